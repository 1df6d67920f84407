// Model weights kept in the browser's Origin Private File System (OPFS), so a
// reload does not download them again. Runs in the model worker: the file is
// written and read through sync access handles, a chunk or a tensor at a
// time, so the whole file is never held in memory.

const DIR = 'weft-models';

async function modelDir() {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(DIR, { create: true });
}

async function fileIfPresent(dir, name) {
  try {
    return await dir.getFileHandle(name);
  } catch {
    return null;
  }
}

/**
 * The OPFS file holding the weights at `url`, downloading them first unless a
 * complete copy is already stored. `onProgress({ phase, loaded, total })`
 * reports `download` progress, or `cached` when nothing was fetched.
 */
export async function cachedWeights(url, name, onProgress) {
  const dir = await modelDir();
  const marker = `${name}.complete`;
  const stored = await fileIfPresent(dir, name);
  if (stored && (await fileIfPresent(dir, marker))) {
    const size = (await stored.getFile()).size;
    onProgress({ phase: 'cached', loaded: size, total: size });
    return stored;
  }
  const response = await fetch(url);
  if (!response.ok || !response.body) {
    throw new Error(`downloading the model from ${url} failed: HTTP ${response.status} ${response.statusText}`);
  }
  const total = Number(response.headers.get('content-length')) || 0;
  const file = await dir.getFileHandle(name, { create: true });
  const handle = await file.createSyncAccessHandle();
  let loaded = 0;
  try {
    handle.truncate(0);
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      handle.write(value, { at: loaded });
      loaded += value.length;
      onProgress({ phase: 'download', loaded, total });
    }
    handle.flush();
  } finally {
    handle.close();
  }
  if (total && loaded !== total) {
    throw new Error(`downloading the model from ${url} stopped after ${loaded} of ${total} bytes`);
  }
  // Only a complete download is ever used.
  await dir.getFileHandle(marker, { create: true });
  return file;
}

/** Removes every stored model (the page's "forget weights" control). */
export async function forgetWeights() {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(DIR, { recursive: true }).catch(() => {});
}
