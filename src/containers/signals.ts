// docker's signal.ParseSignal: "SIGTERM", "TERM", "term" or "15"; unknown names are a 400.
import { constants } from 'node:os';
import { InvalidParameterError } from '../util/errors.js';

const SIGNALS = constants.signals as Record<string, number>;

/** Signal number for a name or number as docker accepts them. */
export function signalNumber(sig: string | number): number {
  if (typeof sig === 'number') return sig;
  const s = sig.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n === 0 || n > 64) throw new InvalidParameterError(`Invalid signal: ${sig}`);
    return n;
  }
  const name = s.toUpperCase().startsWith('SIG') ? s.toUpperCase() : `SIG${s.toUpperCase()}`;
  const n = SIGNALS[name];
  if (n === undefined) {
    const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(name);
    if (rt) return name.startsWith('SIGRTMIN') ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
    throw new InvalidParameterError(`Invalid signal: ${sig}`);
  }
  return n;
}
