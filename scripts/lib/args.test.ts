import { describe, expect, it } from 'vitest';
import { Refusal, decimal, oneOf, parseCommandLine, pathText, someOf, wholeNumber, wordOrWholeNumber, zipPath, type CommandSpec } from './args';

interface Options {
  data: string | undefined;
  steps: number;
  backend: 'webgpu' | 'webgl' | undefined;
  out: string | undefined;
}

const spec: CommandSpec<Options> = {
  name: 'train',
  usage: 'usage: train --data DIR',
  defaults: { data: undefined, steps: 50, backend: undefined, out: undefined },
  values: { data: pathText, steps: wholeNumber(1, 1000), backend: oneOf(['webgpu', 'webgl'] as const), out: zipPath },
  required: ['data'],
};

describe('parseCommandLine', () => {
  it('reads --name value and --name=value, keeps defaults, and notes --json', () => {
    expect(parseCommandLine(['--data', 'photos', '--steps=20', '--json'], spec)).toEqual({
      kind: 'options',
      options: { data: 'photos', steps: 20, backend: undefined, out: undefined, json: true },
    });
    expect(parseCommandLine(['--data=a b', '--backend', 'webgl'], spec)).toEqual({
      kind: 'options',
      options: { data: 'a b', steps: 50, backend: 'webgl', out: undefined, json: false },
    });
  });

  it('answers --help and -h with the usage', () => {
    expect(parseCommandLine(['--steps', 'x', '--help'], spec)).toMatchObject({ kind: 'error' });
    expect(parseCommandLine(['-h'], spec)).toEqual({ kind: 'help', usage: 'usage: train --data DIR' });
  });

  it('refuses with one line naming the script, the option and the reason', () => {
    const error = (argv: string[]) => {
      const parsed = parseCommandLine(argv, spec);
      if (parsed.kind !== 'error') throw new Error(`accepted ${argv.join(' ')}`);
      expect(parsed.message).not.toContain('\n');
      return parsed.message;
    };
    expect(error(['--data', 'd', '--steps', '0'])).toBe('train: --steps must be a whole number from 1 to 1000, got "0"');
    expect(error(['--data', 'd', '--backend', 'cuda'])).toBe('train: --backend must be one of webgpu, webgl, got "cuda"');
    expect(error(['--data', 'd', '--out', 'model.bin'])).toBe('train: --out must name a .zip file, got "model.bin"');
    expect(error(['--steps', '3'])).toBe('train: --data is required; usage: train --data DIR');
    expect(error(['--data'])).toBe('train: --data needs a value; usage: train --data DIR');
    expect(error(['--data', '--json'])).toBe('train: --data needs a value; usage: train --data DIR');
    expect(error(['--data', 'd', '--epochs', '3'])).toBe('train: unknown argument "--epochs"; usage: train --data DIR');
    expect(error(['--data', 'd', 'extra'])).toBe('train: unknown argument "extra"; usage: train --data DIR');
    expect(error(['--data', 'd', '--toString', 'x'])).toContain('unknown argument "--toString"');
  });
});

describe('option parsers', () => {
  it('wordOrWholeNumber takes its word or digits in range, and says both when refusing', () => {
    const warmup = wordOrWholeNumber('auto', 0, 1000);
    expect(warmup('auto')).toBe('auto');
    expect(warmup('0')).toBe(0);
    expect(warmup('1000')).toBe(1000);
    for (const bad of ['1001', '-1', 'Auto', '2.5', '']) {
      const refused = warmup(bad);
      expect(refused).toBeInstanceOf(Refusal);
      expect((refused as Refusal).reason).toContain('must be auto or a whole number from 0 to 1000');
    }
  });

  it('wholeNumber takes digits in range only', () => {
    const steps = wholeNumber(2, 10);
    expect(steps('2')).toBe(2);
    expect(steps('10')).toBe(10);
    for (const text of ['1', '11', '2.5', '-3', '1e1', '', ' 3', '0x4']) expect(steps(text)).toBeInstanceOf(Refusal);
  });

  it('decimal takes plain decimals in range', () => {
    const width = decimal(1 / 64, 4);
    expect(width('0.25')).toBe(0.25);
    expect(width('.5')).toBe(0.5);
    expect(width('4')).toBe(4);
    for (const text of ['0', '4.01', '-1', '1e-1', 'NaN', 'Infinity', '']) expect(width(text)).toBeInstanceOf(Refusal);
  });

  it('oneOf, pathText and zipPath', () => {
    expect(oneOf(['a', 'b'] as const)('b')).toBe('b');
    expect(oneOf(['a', 'b'] as const)('B')).toBeInstanceOf(Refusal);
    expect(pathText('  ')).toBeInstanceOf(Refusal);
    expect(zipPath('out/Model.ZIP')).toBe('out/Model.ZIP');
    expect(zipPath('')).toBeInstanceOf(Refusal);
  });

  it('someOf: a comma-separated list of known words, each once', () => {
    const configs = someOf(['default', 'colour', 'resnet18'] as const);
    expect(configs('colour')).toEqual(['colour']);
    expect(configs('resnet18, default')).toEqual(['resnet18', 'default']);
    expect(configs('default,default')).toBeInstanceOf(Refusal);
    expect(configs('default,color')).toBeInstanceOf(Refusal);
    expect(configs('')).toBeInstanceOf(Refusal);
  });
});
