// berth kill: see ./stop.ts.
export { kill as default } from './stop.js';
