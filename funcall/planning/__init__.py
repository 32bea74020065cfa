"""The memory plan's parts (`funcall.plan` is the command and the API): the model's shape read
without loading weights (`architecture`) and the per-rank arithmetic of each term (`terms`)."""
