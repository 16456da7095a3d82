// One build stage's share of the classic output stream. Stages may build in parallel, but the
// stream must read as the classic builder's sequential one: a stage writes through while it is
// the stage being shown and is held back until then otherwise.
import type { BuildOutput } from './executor.js';

export class StageOutput {
  private held: Array<() => void> | undefined = [];

  constructor(private readonly out: Pick<BuildOutput, 'stream' | 'status'>) {}

  stream(text: string): void {
    this.emit(() => this.out.stream(text));
  }

  status(msg: Record<string, unknown>): void {
    this.emit(() => this.out.status(msg));
  }

  /** Writes what was held back; from now on lines go straight through. */
  show(): void {
    const held = this.held;
    this.held = undefined;
    for (const write of held ?? []) write();
  }

  private emit(write: () => void): void {
    if (this.held) this.held.push(write);
    else write();
  }
}
