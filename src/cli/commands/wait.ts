// berth wait: see ./lifecycle.ts.
export { wait as default } from './lifecycle.js';
