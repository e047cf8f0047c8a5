// The engine's tfjs and builders as a method receives them (src/engine/methods/method.ts: why methods do not import
// tfjs themselves).
import * as tf from '@tensorflow/tfjs';
import { createEncoder } from './encoders';
import { createMlp } from './head';
import type { EngineKit } from './methods/method';
import { l2Normalize } from './normalize';
import { fusedNtXent } from './webgpu/ntXent';

export const engineKit: EngineKit = { tf, mlp: createMlp, encoder: createEncoder, l2Normalize, fusedNtXent };
