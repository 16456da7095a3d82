// docker's human-readable sizes and durations (go-units), shared by the daemon (ps Status, pull
// progress) and the CLI (CREATED and SIZE columns, progress bars).

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** Drop trailing zeros of a decimal fraction ("4.20" -> "4.2", "1.00" -> "1"), as Go's %g does. */
function trimZeros(s: string): string {
  if (!s.includes('.')) return s;
  return s.replace(/0+$/, '').replace(/\.$/, '');
}

/**
 * Round |v| to `digits` significant digits the way Go's strconv does: correctly rounded, with
 * exact decimal ties going to even (JS's toExponential rounds ties up, so 1.125 would become 1.13
 * where docker prints 1.12).
 */
function toExponentialGo(v: number, fractionDigits: number): string {
  const plain = v.toExponential(fractionDigits);
  // A double's exact decimal expansion is at most ~60 significant digits in the ranges we format.
  const wide = v.toExponential(Math.min(100, fractionDigits + 60));
  const [wideMantissa, exp] = wide.split('e');
  const digits = wideMantissa.replace('.', '');
  const tie = digits[fractionDigits + 1] === '5' && /^0*$/.test(digits.slice(fractionDigits + 2));
  if (tie && Number(digits[fractionDigits]) % 2 === 0) {
    // Round down to the even digit: truncate where JS would round half up.
    const kept = digits.slice(0, fractionDigits + 1);
    return `${fractionDigits > 0 ? `${kept[0]}.${kept.slice(1)}` : kept}e${exp}`;
  }
  return plain;
}

/** Go's fmt `%.{prec}g` for a non-negative float. */
export function formatG(v: number, prec: number): string {
  if (v === 0) return '0';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : 'NaN';
  const sign = v < 0 ? '-' : '';
  const a = Math.abs(v);
  const p = prec <= 0 ? 1 : prec;
  const e = toExponentialGo(a, p - 1);
  const [mant, expText] = e.split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= p) {
    const expAbs = Math.abs(exp);
    return `${sign}${trimZeros(mant)}e${exp < 0 ? '-' : '+'}${expAbs < 10 ? '0' : ''}${expAbs}`;
  }
  // Rebuild the fixed notation from the (Go-rounded) digits, so rounding happens only once.
  const digits = mant.replace('.', '');
  let fixed: string;
  if (exp >= 0) {
    const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    fixed = frac ? `${intPart}.${frac}` : intPart;
  } else {
    fixed = `0.${'0'.repeat(-exp - 1)}${digits}`;
  }
  return sign + trimZeros(fixed);
}

/** go-units HumanSizeWithPrecision: decimal (1000-based) units, `%.*g` formatting. */
export function humanSizeWithPrecision(size: number, precision: number): string {
  let v = size;
  let i = 0;
  while (v >= 1000 && i < DECIMAL_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return `${formatG(v, precision)}${DECIMAL_UNITS[i]}`;
}

/** go-units HumanSize (4 significant digits), used by progress bars. */
export function humanSize(size: number): string {
  return humanSizeWithPrecision(size, 4);
}

/** go-units HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

/**
 * go-units parseSize: "10m", "1.5 GB", "100KiB", plain bytes; docker's wording on errors.
 * `decimal` is FromHumanSize (k = 1000: log-opt max-size), `binary` is RAMInBytes (k = 1024: --memory).
 */
export function parseHumanSize(v: string, base: 'decimal' | 'binary'): number {
  let sep = -1;
  for (let i = v.length - 1; i >= 0; i--) {
    if ('0123456789. '.includes(v[i])) {
      sep = i;
      break;
    }
  }
  if (sep === -1) throw new Error(`invalid size: '${v}'`);
  const num = v[sep] === ' ' ? v.slice(0, sep) : v.slice(0, sep + 1);
  let sfx = v.slice(sep + 1);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(num)) throw new Error(`strconv.ParseFloat: parsing "${num}": invalid syntax`);
  const size = Number(num);
  if (size < 0) throw new Error(`size: '${v}' is negative`);
  if (sfx === '') return Math.trunc(size);
  const bad = () => new Error(`invalid suffix: '${sfx}'`);
  if (sfx.length > 3) throw bad();
  sfx = sfx.toLowerCase();
  if (sfx[0] === 'b') {
    if (sfx.length > 1) throw bad();
    return Math.trunc(size);
  }
  const k = base === 'binary' ? 1024 : 1000;
  const mult: Record<string, number> = { k, m: k ** 2, g: k ** 3, t: k ** 4, p: k ** 5 };
  if (!(sfx[0] in mult)) throw bad();
  if ((sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) throw bad();
  return Math.trunc(size * mult[sfx[0]]);
}
