// berth prune: see ./lifecycle.ts.
export { prune as default } from './lifecycle.js';
