// "Sort into folders": the person's original files (not the resized pixels) copied into one sub-folder per group,
// as zip entries or as files written through the File System Access API.

export interface SortedFile {
  /** Where it goes: "<folder>/<file name>". */
  path: string;
  file: Blob;
}

/** A folder or file name that is safe on every file system: no separators, no control or reserved characters. */
export function safeName(name: string): string {
  const cleaned = name.replace(/[\\/:*?"<>|\x00-\x1f]/g, '_').replace(/^\.+$/, '_').trim();
  return cleaned || '_';
}

/**
 * Each image's original file placed in its group's folder (`folderOf(group)`), under its own file name; two files of
 * the same name in one folder get " (2)", " (3)" before the extension. Images without an original file are left out
 * and returned as `missing`.
 */
export function sortIntoFolders(paths: string[], groups: ArrayLike<number>, originals: Map<string, Blob>, folderOf: (group: number) => string): { files: SortedFile[]; missing: string[] } {
  const files: SortedFile[] = [];
  const missing: string[] = [];
  const taken = new Set<string>();
  paths.forEach((path, i) => {
    const file = originals.get(path);
    if (!file) {
      missing.push(path);
      return;
    }
    const folder = safeName(folderOf(groups[i]!));
    const base = safeName(path.split('/').pop() ?? path);
    const dot = base.lastIndexOf('.');
    const [stem, extension] = dot > 0 ? [base.slice(0, dot), base.slice(dot)] : [base, ''];
    let name = base;
    for (let n = 2; taken.has(`${folder}/${name}`.toLowerCase()); n++) name = `${stem} (${n})${extension}`;
    taken.add(`${folder}/${name}`.toLowerCase());
    files.push({ path: `${folder}/${name}`, file });
  });
  return { files, missing };
}
