// tabclr_torch.py, the PyTorch port of the encoder and head that every weights zip carries at its root. Vite inlines
// its text (?raw) in the worker's build and in vitest; Node programs that Vite does not build read the file itself.
import source from './python/tabclr_torch.py?raw';

export const TORCH_MODULE_SOURCE: string = source;
