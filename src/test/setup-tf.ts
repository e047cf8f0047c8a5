// Unit tests run the pure tfjs modules in Node on the CPU backend.
import * as tf from '@tensorflow/tfjs';
import { beforeAll } from 'vitest';

// The union package registers its gradients; the CPU backend is the only one Node has here.
tf.env().set('IS_TEST', true);
tf.env().set('PROD', true);

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});
