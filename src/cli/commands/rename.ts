// berth rename: see ./lifecycle.ts.
export { rename as default } from './lifecycle.js';
