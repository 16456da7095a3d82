// mount(8)-style option strings ("bind,ro,size=10m") split into mount(2) flags and the
// filesystem's data string, as moby/sys/mount parseOptions does for the local driver's `o`.

const FLAGS: Record<string, { set: boolean; flag: number }> = {
  ro: { set: true, flag: 1 },
  rw: { set: false, flag: 1 },
  nosuid: { set: true, flag: 2 },
  suid: { set: false, flag: 2 },
  nodev: { set: true, flag: 4 },
  dev: { set: false, flag: 4 },
  noexec: { set: true, flag: 8 },
  exec: { set: false, flag: 8 },
  sync: { set: true, flag: 16 },
  async: { set: false, flag: 16 },
  dirsync: { set: true, flag: 128 },
  noatime: { set: true, flag: 1024 },
  atime: { set: false, flag: 1024 },
  nodiratime: { set: true, flag: 2048 },
  diratime: { set: false, flag: 2048 },
  bind: { set: true, flag: 4096 },
  rbind: { set: true, flag: 4096 | 16384 },
  relatime: { set: true, flag: 1 << 21 },
  norelatime: { set: false, flag: 1 << 21 },
  strictatime: { set: true, flag: 1 << 24 },
  defaults: { set: false, flag: 0 },
};

export function mountFlags(options: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options.split(',').filter(Boolean)) {
    const f = FLAGS[o];
    if (!f) data.push(o);
    else if (f.set) flags |= f.flag;
    else flags &= ~f.flag;
  }
  return { flags, data: data.join(',') };
}
