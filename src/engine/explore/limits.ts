// The Explore panel's limits, in a module without tfjs so that the page can read them.

/** What the person can ask for: at most this many k-means groups. */
export const MAX_GROUPS = 50;
