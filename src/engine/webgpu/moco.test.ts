// MoCo v2's step on WebGPU (Dawn in Node, the fused kernels on, as the page trains): the same PyTorch fixture the CPU
// backend is pinned to (src/test/mocoParity.ts), so WebGPU agrees with the CPU through it: the key shuffle's gathers, the
// batch-norm groups cut in one split, the queue's enqueue as a matrix product, the momentum update.
import { useDawn } from '../../test/dawn';
import { mocoStepAgainstPytorch } from '../../test/mocoParity';

useDawn();

mocoStepAgainstPytorch('WebGPU', { rtol: 1e-4, loss: 1e-5 });
