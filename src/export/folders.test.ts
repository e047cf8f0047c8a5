import { describe, expect, it } from 'vitest';
import { safeName, sortIntoFolders } from './folders';

describe('sort into folders', () => {
  it('puts each original file once in its group folder, renaming clashes and keeping the bytes', () => {
    const blob = (s: string) => new Blob([s]);
    const paths = ['cats/a.png', 'dogs/a.png', 'cats/b.jpg', 'gone.png', 'dogs/B.jpg'];
    const originals = new Map(paths.filter((p) => p !== 'gone.png').map((p) => [p, blob(p)]));
    const { files, missing } = sortIntoFolders(paths, [0, 0, 1, 1, 1], originals, (g) => `group ${g + 1}`);
    expect(files.map((f) => f.path)).toEqual(['group 1/a.png', 'group 1/a (2).png', 'group 2/b.jpg', 'group 2/B (2).jpg']);
    expect(files.map((f) => f.file)).toEqual([originals.get('cats/a.png'), originals.get('dogs/a.png'), originals.get('cats/b.jpg'), originals.get('dogs/B.jpg')]);
    expect(missing).toEqual(['gone.png']);
  });

  it('makes names safe on every file system', () => {
    expect(safeName('a/b:c*?.png')).toBe('a_b_c__.png');
    expect(safeName('..')).toBe('_');
    expect(safeName('')).toBe('_');
  });
});
