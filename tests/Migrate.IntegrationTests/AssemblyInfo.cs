// CRIU tests freeze and restore real processes on a two-core machine: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
