import { describe, expect, it } from 'vitest';
import { describeSelection, filesFromDirectoryHandle, filesFromDrop, filesFromInput } from './collect';

const file = (name: string, relative = '') => Object.defineProperty(new File(['x'], name), 'webkitRelativePath', { value: relative });

/** Fake entries API objects: a directory reader that hands out its children 100 at a time, as Chromium does. */
function fileEntry(fullPath: string): FileSystemEntry {
  return { isFile: true, isDirectory: false, fullPath, name: fullPath.split('/').pop(), file: (ok: (f: File) => void) => ok(file(fullPath.split('/').pop()!)) } as unknown as FileSystemEntry;
}
function dirEntry(fullPath: string, children: FileSystemEntry[]): FileSystemEntry {
  return {
    isFile: false,
    isDirectory: true,
    fullPath,
    createReader() {
      let offset = 0;
      return {
        readEntries(ok: (e: FileSystemEntry[]) => void) {
          const batch = children.slice(offset, offset + 100);
          offset += batch.length;
          setTimeout(() => ok(batch));
        },
      };
    },
  } as unknown as FileSystemEntry;
}

describe('filesFromDrop', () => {
  it('walks nested folders and reads past the 100-entries-per-call limit', async () => {
    const many = Array.from({ length: 250 }, (_, i) => fileEntry(`/photos/cats/${i}.jpg`));
    const root = dirEntry('/photos', [dirEntry('/photos/cats', many), dirEntry('/photos/dogs', [fileEntry('/photos/dogs/d.png')])]);
    const transfer = { items: [{ kind: 'file', webkitGetAsEntry: () => root }], files: [] } as unknown as DataTransfer;
    const files = await filesFromDrop(transfer);
    expect(files).toHaveLength(251);
    expect(files.at(-1)!.path).toBe('photos/dogs/d.png');
    expect(files[0]!.path).toBe('photos/cats/0.jpg');
  });

  it('falls back to plain files without the entries API', async () => {
    const transfer = { items: [{ kind: 'file', webkitGetAsEntry: () => null }], files: [file('a.png')] } as unknown as DataTransfer;
    expect((await filesFromDrop(transfer)).map((f) => f.path)).toEqual(['a.png']);
  });
});

describe('filesFromInput and filesFromDirectoryHandle', () => {
  it('keeps the relative path a folder input gives, else the name', () => {
    expect(filesFromInput([file('a.png', 'photos/cats/a.png'), file('b.png')]).map((f) => f.path)).toEqual(['photos/cats/a.png', 'b.png']);
  });

  it('walks a directory handle recursively', async () => {
    const handle = {
      name: 'photos',
      async *values() {
        yield { kind: 'file' as const, name: 'a.png', getFile: async () => file('a.png') };
        yield { kind: 'directory' as const, name: 'cats', async *values() { yield { kind: 'file' as const, name: 'b.png', getFile: async () => file('b.png') }; } };
      },
    };
    expect((await filesFromDirectoryHandle(handle)).map((f) => f.path)).toEqual(['photos/a.png', 'photos/cats/b.png']);
  });

  it('names a selection by its folder, else by its size', () => {
    expect(describeSelection(filesFromInput([file('a', 'photos/a'), file('b', 'photos/x/b')]))).toBe('photos');
    expect(describeSelection(filesFromInput([file('a'), file('b')]))).toBe('2 files');
  });
});
