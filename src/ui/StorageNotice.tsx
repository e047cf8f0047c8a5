// What another tabclr tab of another version does to this one, in words, and what to do about it: a newer version
// took the databases over (reload this tab), or an older one keeps them from opening (close or reload that tab).
import type { DatabaseStatus } from '../data/database';
import { useStore } from '../store/store';
import type { StoreName } from '../worker/protocol';

/** Each store as a person knows it, and what this tab does without it. */
const STORES: Record<StoreName, { name: string; without: string; lost: string }> = {
  'image-cache': { name: 'the image cache', without: 'imports without it (every image is decoded)', lost: 'use the image cache' },
  checkpoints: { name: 'the saved runs', without: 'cannot save checkpoints or list saved runs', lost: 'save checkpoints' },
};

const ORDER: StoreName[] = ['checkpoints', 'image-cache'];

function and(parts: string[]): string {
  return parts.join(' and ');
}

function having(storage: Partial<Record<StoreName, DatabaseStatus>>, status: DatabaseStatus): StoreName[] {
  return ORDER.filter((store) => storage[store] === status);
}

export function StorageNotice() {
  const storage = useStore((s) => s.storage);
  const running = useStore((s) => s.trainerState === 'training' || s.trainerState === 'compiling' || s.trainerState === 'paused');
  const replaced = having(storage, 'replaced');
  const blocked = having(storage, 'blocked');
  if (!replaced.length && !blocked.length) return null;
  return (
    <section className="problem" role="alert" aria-label="Another tabclr tab">
      <div>
        {replaced.length > 0 && (
          <p>
            tabclr was updated in another tab. This tab can no longer {replaced.map((s) => STORES[s].lost).join(' or ')}
            {running ? ': the run goes on in memory only' : ''}. Reload this tab to use the new version
            {running ? '; the run keeps what its last checkpoint saved' : ''}.
          </p>
        )}
        {blocked.length > 0 && (
          <p>
            Another tabclr tab has an older version of {and(blocked.map((s) => STORES[s].name))} open, so this tab {and(blocked.map((s) => STORES[s].without))}{' '}
            until that tab closes. Close or reload the other tabclr tab.
          </p>
        )}
      </div>
      {replaced.length > 0 && (
        <button type="button" onClick={() => window.location.reload()}>
          Reload this tab
        </button>
      )}
    </section>
  );
}
