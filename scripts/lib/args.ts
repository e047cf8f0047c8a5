// Command-line options of the scripts: `--name value` or `--name=value`, `--json`, `--help`; every option's text
// checked by a parser that says what is wrong in words. Pure, so that the rules are unit-tested; the scripts turn a
// refusal into one line on stderr and exit code 2 (parseCommandLineOrExit).

/** What a parser returns for text it refuses: the reason, to follow the option's name ("--steps must be …"). */
export class Refusal {
  constructor(readonly reason: string) {}
}

export type OptionParser<V> = (text: string) => V | Refusal;

export interface CommandSpec<T extends object> {
  /** The npm script, e.g. 'train': the prefix of every message. */
  name: string;
  usage: string;
  /** Every option's value when it is not given; undefined for options that have none (required ones included). */
  defaults: T;
  /** Each `--K value` option's parser. */
  values: { [K in keyof T]: OptionParser<Exclude<T[K], undefined>> };
  /** Options that must be given. */
  required?: (keyof T & string)[];
}

export type ParsedCommand<T> = { kind: 'help'; usage: string } | { kind: 'error'; message: string } | { kind: 'options'; options: T & { json: boolean } };

/** The options in argv, or the first thing wrong with them as one line, or a request for help. */
export function parseCommandLine<T extends object>(argv: string[], spec: CommandSpec<T>): ParsedCommand<T> {
  const values = { ...spec.defaults } as Record<string, unknown>;
  const parsers = spec.values as Record<string, OptionParser<unknown>>;
  const error = (message: string): ParsedCommand<T> => ({ kind: 'error', message: `${spec.name}: ${message}; ${spec.usage}` });
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { kind: 'help', usage: spec.usage };
    if (arg === '--json') {
      json = true;
      continue;
    }
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(arg);
    const option = match?.[1];
    if (!match || option === undefined || !Object.hasOwn(parsers, option)) return error(`unknown argument ${JSON.stringify(arg)}`);
    // `--out --json` is a missing value, not a file named "--json".
    const text = match[2] ?? (argv[i + 1]?.startsWith('--') ? undefined : argv[++i]);
    if (text === undefined) return error(`--${option} needs a value`);
    const value = parsers[option]!(text);
    if (value instanceof Refusal) return { kind: 'error', message: `${spec.name}: --${option} ${value.reason}` };
    values[option] = value;
  }
  for (const option of spec.required ?? []) {
    if (values[option] === undefined) return error(`--${option} is required`);
  }
  return { kind: 'options', options: { ...(values as T), json } };
}

/** The options in argv; or the usage on stdout and exit 0 for --help; or the problem on stderr and exit 2. */
export function parseCommandLineOrExit<T extends object>(argv: string[], spec: CommandSpec<T>): T & { json: boolean } {
  const parsed = parseCommandLine(argv, spec);
  if (parsed.kind === 'help') {
    console.log(parsed.usage);
    process.exit(0);
  }
  if (parsed.kind === 'error') {
    console.error(parsed.message);
    process.exit(2);
  }
  return parsed.options;
}

const quoted = (text: string) => JSON.stringify(text);

/** A whole number from min to max. */
export function wholeNumber(min: number, max: number): OptionParser<number> {
  return (text) => {
    const value = /^\d+$/.test(text) ? Number(text) : NaN;
    return value >= min && value <= max ? value : new Refusal(`must be a whole number from ${min} to ${max}, got ${quoted(text)}`);
  };
}

/** `word` itself, or a whole number from min to max ('auto' or a count). */
export function wordOrWholeNumber<W extends string>(word: W, min: number, max: number): OptionParser<W | number> {
  const number = wholeNumber(min, max);
  return (text) => {
    if (text === word) return word;
    const value = number(text);
    return value instanceof Refusal ? new Refusal(`must be ${word} or a whole number from ${min} to ${max}, got ${quoted(text)}`) : value;
  };
}

/** A decimal number from min to max (no exponent, no sign). */
export function decimal(min: number, max: number): OptionParser<number> {
  return (text) => {
    const value = /^(\d+(\.\d*)?|\.\d+)$/.test(text) ? Number(text) : NaN;
    return value >= min && value <= max ? value : new Refusal(`must be a number from ${min} to ${max}, got ${quoted(text)}`);
  };
}

/** One of the given words. */
export function oneOf<V extends string>(choices: readonly V[]): OptionParser<V> {
  return (text) => ((choices as readonly string[]).includes(text) ? (text as V) : new Refusal(`must be one of ${choices.join(', ')}, got ${quoted(text)}`));
}

/** One or more of the given words, comma-separated, each once, in the order given. */
export function someOf<V extends string>(choices: readonly V[]): OptionParser<V[]> {
  return (text) => {
    const words = text.split(',').map((w) => w.trim());
    const wrong = words.find((w) => !(choices as readonly string[]).includes(w));
    if (wrong !== undefined) return new Refusal(`must be one or more of ${choices.join(', ')} (comma-separated), got ${quoted(wrong)}`);
    if (new Set(words).size !== words.length) return new Refusal(`names one twice: ${quoted(text)}`);
    return words as V[];
  };
}

/** A path (checked for existence by the script, which says what it expected there). */
export const pathText: OptionParser<string> = (text) => (text.trim() === '' ? new Refusal('needs a path, got an empty one') : text);

/** A path to write a zip archive to. */
export const zipPath: OptionParser<string> = (text) => {
  const path = pathText(text);
  if (path instanceof Refusal) return path;
  return /\.zip$/i.test(path) ? path : new Refusal(`must name a .zip file, got ${quoted(text)}`);
};
