import { useStore } from '../store/store';

/**
 * The last thing that went wrong, in words, with a way to dismiss it when work can go on, and the way on when
 * there is one (a paused run out of GPU memory goes on at a smaller batch).
 */
export function ProblemBanner() {
  const problem = useStore((s) => s.problem);
  const dismiss = useStore((s) => s.dismissProblem);
  const paused = useStore((s) => s.trainerState === 'paused');
  const resumeWithBatch = useStore((s) => s.resumeWithBatch);
  if (!problem) return null;
  const batch = problem.suggestedBatch;
  return (
    <div className="problem" role="alert">
      <p>{problem.message}</p>
      {batch !== undefined && paused && (
        <button type="button" onClick={() => resumeWithBatch(batch)}>
          Continue with batch {batch}
        </button>
      )}
      {problem.recoverable && (
        <button type="button" onClick={dismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}
