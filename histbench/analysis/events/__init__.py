"""Events: steps of many benchmarks at one commit, and whether the machine or the code
moved them.

On shared CI runners the machine changes under a history (another CPU model, another
image, a busy host), and every timing benchmark steps at that commit; per benchmark,
each such step is a false regression, and a real one among them is lost in the crowd.
So steps are grouped and attributed:

1. Every series' steps are found as ``detect_steps`` finds them (``changes``); a step no
   other benchmark shares is kept only if significant for the whole suite (alpha over
   the number of benchmarks), where steps of several benchmarks corroborate each other.
2. Steps of different series at one commit, or within ``clusters.TOLERANCE`` commits of
   it, form a cluster (``clusters``).
3. A cluster is a machine shift (``environment``) when enough of the timing series
   measured across it step in it and agree on the direction (``attribution``); a changed
   hardware fingerprint in it is evidence that lowers the bar. Else it is a code event.
4. The machine's shifts, each times each series' own sensitivity to the machine
   (learnt from the other shifts), are divided out of every timing series, whose steps
   are then found again (``correction``): at a shift, a series whose move is far from
   what the machine predicts and whose corrected history still steps there had a code
   change of its own, even one the shift hid (a 1.25x slowdown on a runner 0.8x as fast shows no
   step at all before the correction). Whether a code regression is still open is
   judged on the corrected history too: a faster runner later does not fix it.
5. Each cluster becomes up to two events, its machine shift and its code changes, each
   with its commit range, benchmarks, median ratio and quartiles, and the common-mode
   factor across it (``common_mode``: how the whole machine moved, per commit, the
   median over timing series of their distance from their own running level).
6. A shift followed by one that undoes it is a flip-flop pair (``reversals``).

``finder`` runs the stages over a ``workspace`` (what they share); ``assembly`` makes the
numbered events; ``event`` holds the records that leave the package.

Limits: a code change that slows most benchmarks alike looks like a machine shift (the
commit's subject is listed with it, to read; confirm with `continuous` or instruction
counts, which no runner moves). Series other than timings (``track_``, memory,
instruction counts) are never attributed to the machine. Fewer than
``attribution.MIN_MEMBERS`` timing series: no shift is recognised without a fingerprint.
"""

from histbench.analysis.events.event import Event, EventReport
from histbench.analysis.events.finder import SeriesHistory, find_events, hardware_changes
from histbench.analysis.events.history import find_changes, history_events

__all__ = ["Event", "EventReport", "SeriesHistory", "find_changes", "find_events",
           "hardware_changes", "history_events"]
