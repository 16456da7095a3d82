// berth start: see ./lifecycle.ts.
export { start as default } from './lifecycle.js';
