"""Music projects under version control: repositories of commits of stems.

    access    who may read / write a repository; owner_id rules of seed 003
    service   repositories, commits, history, forks, branches, tags, revert, merge, uploads
    diff      what changed between two versions of a stem, computed from the audio
    mixdown   a commit's stems handed to the ``mixdown`` job kind (no bytes copied)
    hooks     what a completed job does to a repository (render_url, generated commits)

Stem audio is an Asset (bytes in the blob store by sha256): a commit, a fork, a revert or
a merge writes rows that point at existing assets and never copies audio.
"""
