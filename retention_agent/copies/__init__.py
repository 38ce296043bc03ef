"""Every copy on the workstation: find the copies of a delivery that people and programs make, erase them at
its purge, and say in the proof what was found, erased and left.

Who does what (the contract):

1. **The agent knows what to look for, never where.** For every delivery that is live or being purged it hands
   a sweeping session the size and SHA-256 of the file (``copies.targets``); for a delivery unlocked with its
   password (``delivery unlock``) and to staff who may open it, also the keyed fingerprints of its people's
   national register numbers and their key (:mod:`retention_agent.copies.workbook`). Nothing else.
2. **The session looks, with the user's own rights** (:mod:`.session`): the per-user agent itself, or the
   user's notifier or desktop app in shared mode. It walks the usual places copies end up
   (:mod:`.locations`), without following links out of them, filters by size, hashes only candidates, reads
   only documents of bounded size with bounded readers (:mod:`.readers`), and skips what did not change since
   the last sweep (:mod:`.cache`, in the user's own profile). Files of other accounts are not looked at.
3. **The agent receives counts and the locations of found copies only** (``copies.report``): a location kind
   and the path inside it; nothing about any other file leaves the session.
4. **At the purge the user's session erases** (:mod:`.erase`): overwritten through the file's own handle and
   unlinked, where the user may; otherwise the copy is reported as remaining, with why. The agent itself never
   removes a path on a caller's behalf: in per-user mode the agent is the user, and erases its own account's
   copies as a step of the purge; in shared mode each session learns from the agent that a purge began and
   erases its copies the next time it runs.
5. **The proof says what was done** (``copies`` in the proof, :mod:`.records`): locations swept, exact and
   derived copies found, erased, gone (removed by someone else before the purge) and remaining; a remaining
   copy is named in ``not_covered`` and is a problem in status until a session reports it erased.
"""
