import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE_FOLDER_FS, brokenLinkLine, readFolder, stageFolder, type Folder, type FolderFs } from './folder';

const root = mkdtempSync(join(tmpdir(), 'tabclr-folder-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Files under root (path → content), made with their folders. */
function write(files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

/** A symbolic link at root/path to `target` (as written: relative to the link's folder, or absolute). */
function link(path: string, target: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  symlinkSync(target, join(root, path));
}

function folderOf(path: string, fs?: FolderFs): Folder {
  const reading = readFolder(path, 'data', fs);
  if (reading.problem !== undefined) throw new Error(reading.problem);
  return reading.folder;
}

const paths = (folder: Folder) => folder.files.map((f) => f.path);

describe('readFolder', () => {
  it('accepts a folder with a file at any depth, and says what is wrong otherwise (as before links were followed)', () => {
    write({ 'nested/a/b/x.png': 'x', 'file.txt': 'x' });
    mkdirSync(join(root, 'empty', 'sub'), { recursive: true });
    expect(paths(folderOf(join(root, 'nested')))).toEqual(['a/b/x.png']);
    expect(folderOf(join(root, 'nested')).linked).toBe(false);
    expect(readFolder(join(root, 'empty'), 'data').problem).toBe(`--data "${join(root, 'empty')}": the folder has no files in it`);
    expect(readFolder(join(root, 'file.txt'), 'test').problem).toBe(`--test "${join(root, 'file.txt')}" is a file, not a folder`);
    expect(readFolder(join(root, 'missing'), 'train').problem).toBe(`--train "${join(root, 'missing')}": no such folder`);
  });

  it('follows a folder that is itself a link, keeping the name given', () => {
    write({ 'photos-real/a.png': 'a', 'photos-real/sub/b.png': 'b' });
    link('photos', 'photos-real');
    const folder = folderOf(join(root, 'photos'));
    expect(folder.dir).toBe(join(root, 'photos'));
    expect(folder.linked).toBe(true);
    expect(paths(folder)).toEqual(['a.png', 'sub/b.png']);
    // A link to nothing is no folder, and says where it points.
    link('gone', 'nowhere');
    expect(readFolder(join(root, 'gone'), 'data').problem).toBe(`--data "${join(root, 'gone')}": no such folder (a link to "nowhere", which does not exist)`);
  });

  it('follows links to files and to folders inside, under the links\' own names', () => {
    write({ 'mixed/cats/1.png': 'c1', 'elsewhere/cat.png': 'c2', 'elsewhere/dogs/1.png': 'd1', 'elsewhere/dogs/2.png': 'd2' });
    link('mixed/cats/2.png', '../../elsewhere/cat.png');
    link('mixed/dogs', join(root, 'elsewhere/dogs'));
    const folder = folderOf(join(root, 'mixed'));
    expect(folder.linked).toBe(true);
    expect(paths(folder)).toEqual(['cats/1.png', 'cats/2.png', 'dogs/1.png', 'dogs/2.png']);
    // A link's file is staged from its target (link(2) would link the symbolic link itself).
    expect(folder.files.find((f) => f.path === 'cats/2.png')!.source).toBe(join(root, 'elsewhere/cat.png'));
    expect(folder.broken).toEqual([]);
  });

  it('refuses a link back to a folder it is inside of, naming the link and where it points', () => {
    write({ 'looped/a.png': 'a', 'looped/sub/b.png': 'b' });
    link('looped/sub/up', '..');
    expect(readFolder(join(root, 'looped'), 'data').problem).toBe(
      `--data "${join(root, 'looped')}": the link "${join(root, 'looped/sub/up')}" points to ".." (${join(root, 'looped')}), a folder it is inside of: following it would never end`,
    );
    // The same loop reached through the folder's own link: the ancestors are known by identity, not by path.
    link('looped-link', 'looped');
    expect(readFolder(join(root, 'looped-link'), 'data').problem).toMatch(/the link ".*looped-link\/sub\/up" points to "\.\." .*a folder it is inside of/);
    // A link to itself is a loop too.
    write({ 'self/a.png': 'a' });
    link('self/again', '.');
    expect(readFolder(join(root, 'self'), 'data').problem).toContain(`the link "${join(root, 'self/again')}" points to "."`);
  });

  it('lets two links reach the same folder when neither is inside it (no loop)', () => {
    write({ 'shared/s.png': 's' });
    link('twice/one', '../shared');
    link('twice/two', '../shared');
    expect(paths(folderOf(join(root, 'twice')))).toEqual(['one/s.png', 'two/s.png']);
  });

  it('reports a broken link and leaves it out', () => {
    write({ 'with-broken/a.png': 'a' });
    link('with-broken/b.png', 'missing.png');
    link('with-broken/c.png', 'c.png');
    const folder = folderOf(join(root, 'with-broken'));
    expect(paths(folder)).toEqual(['a.png']);
    expect(folder.broken).toEqual([
      { link: join(root, 'with-broken/b.png'), target: 'missing.png', reason: 'its target does not exist' },
      { link: join(root, 'with-broken/c.png'), target: 'c.png', reason: 'its links lead back to themselves' },
    ]);
    expect(brokenLinkLine(folder.broken[0]!)).toBe(`skipped ${join(root, 'with-broken/b.png')}: a link to "missing.png", its target does not exist`);
    // Only broken links: nothing to import.
    link('only-broken/x.png', 'missing.png');
    expect(readFolder(join(root, 'only-broken'), 'data').problem).toBe(
      `--data "${join(root, 'only-broken')}": the folder has no files in it (only a broken link: "${join(root, 'only-broken/x.png')}" points to "missing.png", its target does not exist)`,
    );
  });

  // The tests run as root, whom chmod 000 does not stop from reading: the refusal is provoked by a file system whose
  // readdir fails as Node's does on a folder the user may not read.
  it('refuses a folder it cannot read, at the top or inside, with the reason', () => {
    write({ 'locked/a.png': 'a', 'locked/private/b.png': 'b' });
    const denied = (folder: string): FolderFs => ({
      ...NODE_FOLDER_FS,
      readdir: (path) => {
        if (path === folder) throw Object.assign(new Error(`EACCES: permission denied, scandir '${path}'`), { code: 'EACCES' });
        return NODE_FOLDER_FS.readdir(path);
      },
    });
    const locked = join(root, 'locked');
    expect(readFolder(locked, 'data', denied(join(locked, 'private'))).problem).toBe(
      `--data "${locked}": cannot read the folder "${join(locked, 'private')}" (permission denied)`,
    );
    expect(readFolder(locked, 'data', denied(locked)).problem).toBe(`--data "${locked}": cannot read the folder (permission denied)`);
  });
});

describe('stageFolder', () => {
  it('hands over a folder without links as it is, at no cost', () => {
    write({ 'plain/a.png': 'a' });
    const staged = stageFolder(folderOf(join(root, 'plain')));
    expect(staged.dir).toBe(join(root, 'plain'));
    expect(staged.hardLinked + staged.copied).toBe(0);
    staged.remove();
    expect(existsSync(join(root, 'plain/a.png'))).toBe(true);
  });

  it('mirrors a folder with links: same name, same relative paths, same bytes and times; removed afterwards', () => {
    write({ 'album-real/x/1.png': 'one', 'outside/2.png': 'two', 'outside/more/3.png': 'three' });
    link('album-real/x/2.png', join(root, 'outside/2.png'));
    link('album-real/more', '../outside/more');
    link('album', 'album-real');
    const old = new Date('2020-02-03T04:05:06.789Z');
    utimesSync(join(root, 'outside/2.png'), old, old);
    const folder = folderOf(join(root, 'album'));
    const tmp = mkdtempSync(join(root, 'staging-'));
    const staged = stageFolder(folder, tmp);
    expect(staged.dir).toMatch(new RegExp(`^${tmp}/tabclr-folder-[^/]+/album$`));
    expect(staged.hardLinked).toBe(3);
    expect(staged.leftOut).toEqual([]);
    for (const file of folder.files) {
      const copy = join(staged.dir, file.path);
      expect(readFileSync(copy, 'utf8')).toBe(readFileSync(file.source, 'utf8'));
      expect(statSync(copy).mtimeMs).toBe(statSync(file.source).mtimeMs);
    }
    expect(paths(folderOf(staged.dir))).toEqual(['more/3.png', 'x/1.png', 'x/2.png']);
    expect(statSync(join(staged.dir, 'x/2.png')).mtime.getTime()).toBe(old.getTime());
    staged.remove();
    expect(existsSync(dirname(staged.dir))).toBe(false);
    // The files it mirrored are untouched.
    expect(readFileSync(join(root, 'outside/2.png'), 'utf8')).toBe('two');
    staged.remove();
  });

  it('copies, with the modification time, what cannot be hard-linked, and leaves out what cannot be read', () => {
    write({ 'cp-real/a.png': 'aaa', 'cp-real/b.png': 'bbb' });
    link('cp', 'cp-real');
    const folder = folderOf(join(root, 'cp'));
    // A time finer than the millisecond of File.lastModified: the copy keeps the millisecond the page reads.
    const old = 1546300800.1236;
    utimesSync(join(root, 'cp-real/a.png'), old, old);
    // A file no longer there when staged (deleted since it was read) is left out, with the reason.
    const withGone: Folder = { ...folder, files: [...folder.files, { path: 'gone.png', source: join(root, 'cp-real/gone.png') }] };
    // /dev/shm is another file system than the test's folder on most Linux machines: link(2) fails with EXDEV there.
    const other = existsSync('/dev/shm') && statSync('/dev/shm').dev !== statSync(root).dev ? mkdtempSync('/dev/shm/tabclr-folder-test-') : null;
    const staged = stageFolder(withGone, other ?? mkdtempSync(join(root, 'staging-')));
    try {
      expect(staged.leftOut).toEqual([{ path: 'gone.png', reason: 'it does not exist' }]);
      expect(existsSync(join(staged.dir, 'gone.png'))).toBe(false);
      if (other) expect(staged.copied).toBe(2);
      expect(readFileSync(join(staged.dir, 'a.png'), 'utf8')).toBe('aaa');
      expect(statSync(join(staged.dir, 'a.png')).mtimeMs).toBeCloseTo(statSync(join(root, 'cp-real/a.png')).mtimeMs, 3);
      expect(Math.floor(statSync(join(staged.dir, 'a.png')).mtimeMs)).toBe(1546300800123);
    } finally {
      staged.remove();
      if (other) rmSync(other, { recursive: true, force: true });
    }
    expect(existsSync(staged.dir)).toBe(false);
  });
});
