import { useStore } from '../store/store';

/** The last thing that went wrong, in words, with a way to dismiss it when work can go on. */
export function ProblemBanner() {
  const problem = useStore((s) => s.problem);
  const dismiss = useStore((s) => s.dismissProblem);
  if (!problem) return null;
  return (
    <div className="problem" role="alert">
      <p>{problem.message}</p>
      {problem.recoverable && (
        <button type="button" onClick={dismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}
