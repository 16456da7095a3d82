// berth unpause: see ./lifecycle.ts.
export { unpause as default } from './lifecycle.js';
