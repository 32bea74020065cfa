"""The data-preparation pipeline behind `python -m funcall.prepare_data` (see that module).

  samples       Sample (an example on its way) and Rejection (id, stage, reason, detail)
  inputs        read xlam / bfcl / jsonl input into samples and input rejections
  prompts       the judge's and the teacher's prompts (our own words)
  stages        LLMStage (FunReason's judged checks, teacher reasoning, regeneration), ASTStage
  ast_validate  calls against the tool schemas: unknown function / argument, missing required, wrong type
  pipeline      run samples through the stages concurrently; per-stage tallies for report.json
  outputs       train.jsonl, rejected.jsonl, dataset/ (save_to_disk), report.json, each written atomically
"""
