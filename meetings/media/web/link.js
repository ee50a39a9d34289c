// The weak-link banner's rule (docs/meeting-protocol.md, "Weak-link
// banner"): the banner says the link is weak only when the measured link
// is, not when a connection is starting. In its first seconds a browser's
// bandwidth estimate starts low and ramps up, the hub's level follows it
// down and back up, and the first loss figures count packets still in
// flight; none of that is a weak link.
//
// Each quality report (the hub sends one every 2 s, and on each change)
// is a sample: weak when loss (either way) is above lossWeak, the round
// trip above rttWeakMs, or the browser's estimate of its uplink
// (availableOutgoingBitrate) is below what the least it sends needs (the
// low camera layer and the microphone). A level the hub lowered is not by
// itself a weak link: the hub lowers it on estimates that, in the first
// seconds, are still ramping up. The banner shows once the samples have
// been weak without a break for windowMs, and not before warmupMs after
// joining; it hides once they have been good for clearMs.

export const RULE = Object.freeze({ warmupMs: 20000, windowMs: 10000, clearMs: 6000, lossWeak: 0.05, rttWeakMs: 600 });

// weakSample says whether one quality report shows a weak link.
export function weakSample(q, rule = RULE) {
  const loss = Math.max(q.lossDown || 0, q.lossUp || 0);
  return loss > rule.lossWeak || (q.rttMs || 0) > rule.rttWeakMs || (q.upBps > 0 && q.upBps < (q.upNeedBps || 0));
}

// LinkWatch applies the rule to the reports of one connection, from when
// it joined (times in ms, e.g. performance.now()).
export class LinkWatch {
  constructor(joinedAt, rule = RULE) {
    this.rule = rule; this.joinedAt = joinedAt;
    this.weakSince = null; this.goodSince = null; this.shown = false;
  }

  // add takes the report q that came at time at and returns whether the
  // banner shows.
  add(q, at) {
    const r = this.rule;
    if (weakSample(q, r)) {
      this.goodSince = null;
      this.weakSince ??= at;
      if (at - this.joinedAt >= r.warmupMs && at - this.weakSince >= r.windowMs) this.shown = true;
    } else {
      this.weakSince = null;
      this.goodSince ??= at;
      if (at - this.goodSince >= r.clearMs) this.shown = false;
    }
    return this.shown;
  }
}
