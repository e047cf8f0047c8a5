// The folder of images a script hands the page, read once in Node for every script that imports one (train,
// bench:quality, bench:parity, bench:frames): symbolic links followed, loops and unreadable folders refused before the
// browser opens, and, where links were followed, a staged copy of the same tree for the page to take.
//
// Why stage: the scripts fill the page's <input webkitdirectory> through Playwright's setFiles(dir), and Chromium's own
// enumeration of that directory (CDP DOM.setFileInputFiles) does not follow symbolic links: a folder that is itself a
// link gives the page no file at all, and links inside it are dropped. What Chromium enumerates has to be a tree of
// real files, so a folder with links is mirrored (hard links, else copies) under a temporary folder of the same name.
import { constants, copyFileSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, utimesSync, type Dirent, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

/** The file-system calls the reader makes (synchronous, following Node's fs), so that a test can make one fail. */
export interface FolderFs {
  stat(path: string): Stats;
  lstat(path: string): Stats;
  readdir(path: string): Dirent[];
  readlink(path: string): string;
  realpath(path: string): string;
}

export const NODE_FOLDER_FS: FolderFs = {
  stat: (path) => statSync(path),
  lstat: (path) => lstatSync(path),
  readdir: (path) => readdirSync(path, { withFileTypes: true }),
  readlink: (path) => readlinkSync(path),
  realpath: (path) => realpathSync(path),
};

/** One file of the folder. */
export interface FolderFile {
  /** Its path inside the folder as the person sees it: '/'-separated, with the links' own names (labels come from it). */
  path: string;
  /** Where its bytes are: a path that hard-links and copies can start from (a link's target, resolved). */
  source: string;
}

/** A symbolic link whose target is missing: reported, and left out as Chromium would leave it out. */
export interface BrokenLink {
  /** The link, as `--option PATH/…` names it. */
  link: string;
  /** What it points to, as written in the link. */
  target: string;
  reason: string;
}

export interface Folder {
  /** The folder as given, made absolute but not resolved through links: its name is the data set's name. */
  dir: string;
  /** Every file at any depth, in path order. */
  files: FolderFile[];
  /** Whether a symbolic link was followed (the folder's own included): then the page needs the staged tree. */
  linked: boolean;
  broken: BrokenLink[];
}

export type FolderReading = { folder: Folder; problem?: undefined } | { problem: string; folder?: undefined };

const quoted = (text: string) => JSON.stringify(text);

/** An fs error's code in words, for a line a person reads. */
export function errorWords(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'it does not exist';
    case 'ENOTDIR':
      return 'a part of its path is not a folder';
    case 'ELOOP':
      return 'its links lead back to themselves';
    case 'EIO':
      return 'input/output error';
    default:
      return (e as Error).message ?? String(e);
  }
}

/** A folder's identity whatever the path it is reached by: two paths to one folder have the same device and inode. */
const identity = (stats: Stats) => `${stats.dev}:${stats.ino}`;

/** Errors of a link's target that make it a broken link (left out), rather than a folder the script cannot read. */
const BROKEN = new Set(['ENOENT', 'ENOTDIR', 'ELOOP']);

/** Raised inside the walk with the line that refuses the folder. */
class Refused extends Error {}

/**
 * The folder that `--option path` names, every file at any depth with symbolic links followed (the folder's own,
 * links to files, links to folders), or why it cannot be used as the folder of images: missing, not a folder, a
 * folder (it or one inside) that cannot be read, a link back to a folder it is inside of (a loop, which would never
 * end), or no file anywhere. A broken link is not a reason: it is listed in `broken` and left out.
 */
export function readFolder(path: string, option: string, fs: FolderFs = NODE_FOLDER_FS): FolderReading {
  const named = `--${option} ${quoted(path)}`;
  const dir = resolve(path);
  // Paths in messages as the person typed them.
  const shown = (rel: string) => (rel === '' ? path : join(path, rel));
  let top: Stats;
  try {
    top = fs.stat(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      const link = linkTarget(fs, dir);
      return { problem: `${named}: no such folder${link === null ? '' : ` (a link to ${quoted(link)}, which does not exist)`}` };
    }
    return { problem: `${named}: cannot read the folder (${errorWords(e)})` };
  }
  if (!top.isDirectory()) return { problem: `${named} is a file, not a folder` };

  const files: FolderFile[] = [];
  const broken: BrokenLink[] = [];
  let linked = isLink(fs, dir);

  /** The folders from the top down to the one being read, by identity: a link to one of them is a loop. */
  const walk = (at: string, rel: string, ancestors: Set<string>) => {
    let entries: Dirent[];
    try {
      entries = fs.readdir(at);
    } catch (e) {
      throw new Refused(`${named}: cannot read the folder${rel === '' ? '' : ` ${quoted(shown(rel))}`} (${errorWords(e)})`);
    }
    for (const entry of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = join(at, entry.name);
      const inside = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isSymbolicLink()) {
        linked = true;
        let target: Stats;
        try {
          target = fs.stat(full);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code ?? '';
          const written = linkTarget(fs, full) ?? '?';
          if (!BROKEN.has(code)) throw new Refused(`${named}: cannot follow the link ${quoted(shown(inside))} to ${quoted(written)} (${errorWords(e)})`);
          broken.push({ link: shown(inside), target: written, reason: code === 'ELOOP' ? 'its links lead back to themselves' : 'its target does not exist' });
          continue;
        }
        if (target.isDirectory()) {
          if (ancestors.has(identity(target))) {
            const written = linkTarget(fs, full) ?? '?';
            throw new Refused(
              `${named}: the link ${quoted(shown(inside))} points to ${quoted(written)} (${fs.realpath(full)}), a folder it is inside of: following it would never end`,
            );
          }
          walk(full, inside, new Set(ancestors).add(identity(target)));
        } else if (target.isFile()) {
          // link(2) does not follow a symbolic link: staging starts from the file itself.
          files.push({ path: inside, source: fs.realpath(full) });
        }
      } else if (entry.isDirectory()) {
        let stats: Stats;
        try {
          stats = fs.stat(full);
        } catch (e) {
          throw new Refused(`${named}: cannot read the folder ${quoted(shown(inside))} (${errorWords(e)})`);
        }
        walk(full, inside, new Set(ancestors).add(identity(stats)));
      } else if (entry.isFile()) {
        files.push({ path: inside, source: full });
      }
      // Anything else (a socket, a pipe, a device) is no image: left out.
    }
  };
  try {
    walk(dir, '', new Set([identity(top)]));
  } catch (e) {
    if (e instanceof Refused) return { problem: e.message };
    throw e;
  }
  if (files.length === 0) {
    const links = broken.length === 0 ? '' : ` (only ${broken.length === 1 ? 'a broken link' : `${broken.length} broken links`}: ${quoted(broken[0]!.link)} points to ${quoted(broken[0]!.target)}, ${broken[0]!.reason}${broken.length > 1 ? ', …' : ''})`;
    return { problem: `${named}: the folder has no files in it${links}` };
  }
  return { folder: { dir, files, linked, broken } };
}

function isLink(fs: FolderFs, path: string): boolean {
  try {
    return fs.lstat(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** What a link points to as written, or null for something that is no link. */
function linkTarget(fs: FolderFs, path: string): string | null {
  try {
    return fs.readlink(path);
  } catch {
    return null;
  }
}

/** A broken link's line, as the scripts list the files the page skipped. */
export const brokenLinkLine = (b: BrokenLink) => `skipped ${b.link}: a link to ${quoted(b.target)}, ${b.reason}`;

/**
 * The folder `--option path` names, read; or `script: problem[hint]` on stderr and exit code 2, before anything is
 * started. Each broken link gets one line on stderr.
 */
export function folderOrExit(script: string, path: string, option: string, hint = ''): Folder {
  const reading = readFolder(path, option);
  if (reading.problem !== undefined) {
    console.error(`${script}: ${reading.problem}${hint}`);
    process.exit(2);
  }
  for (const b of reading.folder.broken) console.error(`[${script}] ${brokenLinkLine(b)}`);
  return reading.folder;
}

/** The folder the page is given, and how it was made. */
export interface StagedFolder {
  /** The folder to hand to setFiles: the one given when it holds no link, else the staged tree (same name). */
  dir: string;
  /** Files hard-linked and copied into the staged tree (0 and 0 when the folder is handed over as it is). */
  hardLinked: number;
  copied: number;
  /** Files that could be neither linked nor copied (gone since the folder was read, unreadable), and why. */
  leftOut: { path: string; reason: string }[];
  /** Removes the staged tree (nothing when there is none); safe to call twice. */
  remove(): void;
}

/** Staged trees not yet removed: the process removes them as it exits, whatever the reason (Ctrl-C included). */
const staged = new Set<string>();
let removeAtExit = false;

function removeStaged(root: string): void {
  if (!staged.delete(root)) return;
  rmSync(root, { recursive: true, force: true });
}

/**
 * What the page should be given for `folder`: the folder itself when it holds no symbolic link (Chromium enumerates it
 * as it is, at no cost), else a temporary tree under `tmp` that mirrors it as the person sees it, with the same
 * relative paths under a folder of the same name (the page takes the data set's name from the top folder and labels
 * from the sub-folders'), each file a hard link to its target where the file system allows, else a copy with the
 * target's modification time (the page's decode cache keys on path, size and modification time, so a copy is found
 * in the cache as the original would be).
 */
export function stageFolder(folder: Folder, tmp = tmpdir()): StagedFolder {
  if (!folder.linked) return { dir: folder.dir, hardLinked: 0, copied: 0, leftOut: [], remove: () => undefined };
  const root = mkdtempSync(join(tmp, 'tabclr-folder-'));
  staged.add(root);
  if (!removeAtExit) {
    removeAtExit = true;
    process.on('exit', () => [...staged].forEach(removeStaged));
  }
  const dir = join(root, basename(folder.dir));
  const result: StagedFolder = { dir, hardLinked: 0, copied: 0, leftOut: [], remove: () => removeStaged(root) };
  try {
    for (const file of folder.files) {
      const to = join(dir, ...file.path.split('/'));
      mkdirSync(dirname(to), { recursive: true });
      try {
        linkSync(file.source, to);
        result.hardLinked++;
        continue;
      } catch {
        // Another file system (EXDEV), or a file the user may read but not link: copied below.
      }
      try {
        copyFileSync(file.source, to, constants.COPYFILE_FICLONE);
        // In seconds, to the microsecond: Stats' Date objects round to the millisecond, which can move it.
        const { atimeMs, mtimeMs } = statSync(file.source);
        utimesSync(to, atimeMs / 1000, mtimeMs / 1000);
        result.copied++;
      } catch (e) {
        rmSync(to, { force: true });
        result.leftOut.push({ path: file.path, reason: errorWords(e) });
      }
    }
  } catch (e) {
    result.remove();
    throw e;
  }
  return result;
}
