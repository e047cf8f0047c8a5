// Collecting the files a user hands over, on the page: a dropped folder (walked through the entries API), a
// folder or files picked with an <input>, or a directory handle from showDirectoryPicker.
import type { ImportFile } from './importer';

/** Chromium returns at most 100 entries per readEntries call: keep reading until an empty batch. */
async function readAllEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

async function walkEntry(entry: FileSystemEntry, out: ImportFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, path: entry.fullPath.replace(/^\/+/, '') });
  } else if (entry.isDirectory) {
    for (const child of await readAllEntries((entry as FileSystemDirectoryEntry).createReader())) await walkEntry(child, out);
  }
}

/**
 * Files from a drop, folders walked recursively. The entries must be taken from the DataTransfer synchronously,
 * inside the drop event: this function does that before its first await.
 */
export function filesFromDrop(dataTransfer: DataTransfer): Promise<ImportFile[]> {
  const entries = Array.from(dataTransfer.items)
    .filter((item) => item.kind === 'file')
    .map((item) => item.webkitGetAsEntry());
  const loose = Array.from(dataTransfer.files);
  return (async () => {
    const out: ImportFile[] = [];
    if (entries.every((e) => e === null)) {
      // No entries API: plain files only.
      for (const file of loose) out.push({ file, path: file.name });
      return out;
    }
    for (const entry of entries) if (entry) await walkEntry(entry, out);
    return out;
  })();
}

/** Files from an <input type="file">; with webkitdirectory each keeps its path inside the chosen folder. */
export function filesFromInput(files: FileList | File[]): ImportFile[] {
  return Array.from(files, (file) => ({ file, path: file.webkitRelativePath || file.name }));
}

interface DirectoryHandle {
  name: string;
  values(): AsyncIterable<{ kind: 'file' | 'directory'; name: string; getFile?(): Promise<File> } & Partial<DirectoryHandle>>;
}

/** Files under a directory handle from showDirectoryPicker, recursively. */
export async function filesFromDirectoryHandle(handle: DirectoryHandle, prefix = handle.name): Promise<ImportFile[]> {
  const out: ImportFile[] = [];
  for await (const child of handle.values()) {
    const path = `${prefix}/${child.name}`;
    if (child.kind === 'file') out.push({ file: await child.getFile!(), path });
    else out.push(...(await filesFromDirectoryHandle(child as DirectoryHandle, path)));
  }
  return out;
}

/** A name for what was chosen: the folder's name when there is one folder at the top, else a count. */
export function describeSelection(files: ImportFile[]): string {
  const tops = new Set(files.map((f) => (f.path.includes('/') ? f.path.split('/')[0] : null)));
  if (tops.size === 1) {
    const [top] = tops;
    if (top) return top;
  }
  return files.length === 1 ? '1 file' : `${files.length} files`;
}
