// A small seeded PRNG so that runs, augmentations and tests are reproducible from one integer seed.

/** mulberry32: 32-bit state, full period, good enough statistics for sampling augmentation parameters. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The generator's whole state, for a checkpoint: setState(getState()) continues the same sequence. */
  getState(): number {
    return this.state;
  }

  setState(state: number): void {
    if (!(Number.isInteger(state) && state >= 0 && state < 2 ** 32)) throw new Error(`random state must be a 32-bit unsigned integer, got ${state}`);
    this.state = state;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A fresh seed for a derived stream (for example one per step and view). */
  fork(): Random {
    return new Random(Math.floor(this.next() * 4294967296));
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    return p;
  }
}
