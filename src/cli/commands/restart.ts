// berth restart: see ./lifecycle.ts.
export { restart as default } from './lifecycle.js';
