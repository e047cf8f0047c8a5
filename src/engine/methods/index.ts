// The registry of self-supervised methods: one line per method. Everything else (config, page, worker, checkpoints,
// downloads, scripts) finds a method here by its name.
import type { DataContext, Method, SettingCaution, SettingsOf } from './method';
import { byol } from './byol';
import { moco } from './moco';
import { simclr } from './simclr';

export const METHODS = {
  simclr,
  byol,
  moco,
} as const;

export type MethodName = keyof typeof METHODS;

type SettingsOfMethod<M> = M extends Method<string, infer Specs> ? SettingsOf<Specs> : never;

/** A run's method and its settings, typed per method: `{ name: 'simclr', temperature: 0.2 }`. */
export type MethodConfig = { [K in MethodName]: { name: K } & SettingsOfMethod<(typeof METHODS)[K]> }[MethodName];

export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.hasOwn(METHODS, name);
}

/** The method a config names, as the engine's general type (the registry's entries differ in their settings' types). */
export function methodOf(config: { name: MethodName }): Method {
  return METHODS[config.name] as unknown as Method;
}

/** A method's settings at their defaults. */
export function defaultMethodConfig<K extends MethodName>(name: K): Extract<MethodConfig, { name: K }> {
  const settings = Object.fromEntries(Object.entries(methodOf({ name }).settings).map(([key, spec]) => [key, spec.default]));
  return { name, ...settings } as Extract<MethodConfig, { name: K }>;
}

/** The settings of a method config without its name, as the method's build takes them. */
export function methodSettings(config: MethodConfig): Record<string, number> {
  const { name: _name, ...settings } = config;
  return settings as Record<string, number>;
}

/** "SimCLR (temperature 0.2)": a method config for a person. */
export function describeMethod(config: MethodConfig): string {
  const method = methodOf(config);
  const settings = Object.entries(methodSettings(config)).map(([key, value]) => `${method.settings[key]?.label.toLowerCase() ?? key} ${value}`);
  return settings.length ? `${method.label} (${settings.join(', ')})` : method.label;
}

/** Each setting of the config above what this folder allows, with why (MoCo's queue longer than the folder). */
export function methodDataProblems(config: MethodConfig, context: DataContext): { key: string; message: string }[] {
  const limits = methodOf(config).dataLimits?.(context) ?? {};
  const settings = methodSettings(config);
  return Object.entries(limits).flatMap(([key, limit]) =>
    limit && settings[key]! > limit.max ? [{ key, message: `must be at most ${limit.max.toLocaleString('en')}: ${limit.why}` }] : [],
  );
}

/** The config with every setting brought within what this folder allows (the page's defaults for a chosen method). */
export function fitMethodToData<C extends MethodConfig>(config: C, context: DataContext): C {
  const limits = methodOf(config).dataLimits?.(context) ?? {};
  const fitted: Record<string, number | string> = { ...config };
  for (const [key, limit] of Object.entries(limits)) if (limit && (fitted[key] as number) > limit.max) fitted[key] = Math.max(methodOf(config).settings[key]!.min, limit.max);
  return fitted as C;
}

/** The smallest batch the method's settings work with: 2 (a positive and a negative), or more where a setting needs it (MoCo's groups). */
export function smallestBatch(config: MethodConfig): number {
  return Math.max(2, methodOf(config).batchNeed?.(methodSettings(config))?.smallestBatch ?? 2);
}

/** The setting that needs a larger batch than `batchSize`, with why and what to change; none when the batch suffices. */
export function methodBatchProblems(config: MethodConfig, batchSize: number): { key: string; message: string }[] {
  const need = methodOf(config).batchNeed?.(methodSettings(config));
  return need && batchSize < need.smallestBatch ? [{ key: need.key, message: need.why(batchSize) }] : [];
}

/** What the settings give up of the method, for the page to say beside their fields (never a reason to refuse). */
export function methodCautions(config: MethodConfig): SettingCaution[] {
  return methodOf(config).cautions?.(methodSettings(config)) ?? [];
}
