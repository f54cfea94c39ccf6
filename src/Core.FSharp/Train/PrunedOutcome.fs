/// What every evolutionary-compression pipeline returns for one thin network after fine-tuning: how it was chosen,
/// what it keeps, what it costs, and its test accuracy (a fraction) before and after fine-tuning. 'C is the thin
/// model's configuration, 'P its tree (parameters, with batch-norm state where the model has some).
namespace GcnKd.Train

open GcnKd.Evolution

type PrunedOutcome<'C, 'P> =
    { Method: string
      Mask: bool[]
      Counts: int[]
      Config: 'C
      Cost: ModelCost
      TestBefore: float
      ValAfter: float
      TestAfter: float
      BestEpoch: int
      Params: 'P
      Log: EpochLog[] }
