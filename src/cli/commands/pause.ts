// berth pause: see ./lifecycle.ts.
export { pause as default } from './lifecycle.js';
