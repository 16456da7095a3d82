// berth top: see ./lifecycle.ts.
export { top as default } from './lifecycle.js';
