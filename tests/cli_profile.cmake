# `llmemu profile ...`: exit codes, output and bad input.
if(TARGET llmemu_cli)
  set(_pack ${PROJECT_SOURCE_DIR}/data/llm-emu-A40-Qwen3-8B-subset.json)
  set(_dir ${CMAKE_CURRENT_BINARY_DIR}/cli_profile)
  file(MAKE_DIRECTORY ${_dir})
  file(WRITE ${_dir}/steps.jsonl
    "{\"_header\": true, \"model_name\": \"toy\", \"gpu_name\": \"NVIDIA A40\", \"num_hidden_layers\": 2}\n"
    "{\"step_cycle_us\": 1000, \"total_tokens\": 1, \"num_new_reqs\": 0, \"num_decode_seqs\": 1}\n"
    "{\"__marker__\": \"profiling_start\"}\n"
    "{\"step_cycle_us\": 30000, \"total_tokens\": 3, \"num_new_reqs\": 0, \"num_decode_seqs\": 3}\n"
    "{\"step_cycle_us\": 30100, \"total_tokens\": 3, \"num_new_reqs\": 0, \"num_decode_seqs\": 3}\n"
    "{\"step_cycle_us\": 52000, \"total_tokens\": 700, \"num_new_reqs\": 1, \"num_decode_seqs\": 2}\n"
    "{\"__marker__\": \"profiling_stop\"}\n")
  file(WRITE ${_dir}/bad_steps.jsonl "{\"step_cycle_us\": 1, \"total_tokens\": 1}\n")
  file(WRITE ${_dir}/bad_pack.json "{\"version\": \"2.0\", \"profile_type\": \"serving_step_cycle_2d\", \"bucketing\": {\"tt_bucket_width\": 1, \"conc_bucket_width\": 5}, \"decode_2d_distribution\": [{\"tt\": 1, \"conc\": 2, \"num_samples\": 2, \"samples\": [1]}]}\n")

  add_test(NAME cli.profile.help COMMAND $<TARGET_FILE:llmemu_cli> profile --help)
  set_tests_properties(cli.profile.help PROPERTIES PASS_REGULAR_EXPRESSION "holdout")
  add_test(NAME cli.profile.no_subcommand COMMAND $<TARGET_FILE:llmemu_cli> profile)
  set_tests_properties(cli.profile.no_subcommand PROPERTIES WILL_FAIL TRUE)
  add_test(NAME cli.profile.unknown_subcommand COMMAND $<TARGET_FILE:llmemu_cli> profile frobnicate)
  set_tests_properties(cli.profile.unknown_subcommand PROPERTIES WILL_FAIL TRUE)

  add_test(NAME cli.profile.inspect COMMAND $<TARGET_FILE:llmemu_cli> profile inspect ${_pack})
  set_tests_properties(cli.profile.inspect PROPERTIES PASS_REGULAR_EXPRESSION "decode +145 +16760")
  add_test(NAME cli.profile.inspect_json_trace COMMAND $<TARGET_FILE:llmemu_cli> profile inspect ${_pack} --json
    --trace ${PROJECT_SOURCE_DIR}/data/splitwise_code.csv)
  set_tests_properties(cli.profile.inspect_json_trace PROPERTIES PASS_REGULAR_EXPRESSION "\"trace_coverage\"")
  add_test(NAME cli.profile.inspect_missing COMMAND $<TARGET_FILE:llmemu_cli> profile inspect ${_dir}/no_such_pack.json)
  set_tests_properties(cli.profile.inspect_missing PROPERTIES WILL_FAIL TRUE)
  add_test(NAME cli.profile.inspect_missing_message COMMAND $<TARGET_FILE:llmemu_cli> profile inspect ${_dir}/no_such_pack.json)
  set_tests_properties(cli.profile.inspect_missing_message PROPERTIES PASS_REGULAR_EXPRESSION "no_such_pack.json': cannot read")
  add_test(NAME cli.profile.inspect_bad_pack COMMAND $<TARGET_FILE:llmemu_cli> profile inspect ${_dir}/bad_pack.json)
  set_tests_properties(cli.profile.inspect_bad_pack PROPERTIES PASS_REGULAR_EXPRESSION "bad_pack.json': decode_2d_distribution bucket 0 \\(tt=1, conc=2\\) has num_samples=2 but 1 samples")
  add_test(NAME cli.profile.inspect_bad_pack_exit COMMAND $<TARGET_FILE:llmemu_cli> profile inspect ${_dir}/bad_pack.json)
  set_tests_properties(cli.profile.inspect_bad_pack_exit PROPERTIES WILL_FAIL TRUE)

  add_test(NAME cli.profile.holdout_json COMMAND $<TARGET_FILE:llmemu_cli> profile holdout --pack ${_pack} --fraction 0.2 --seed 0 --json)
  set_tests_properties(cli.profile.holdout_json PROPERTIES PASS_REGULAR_EXPRESSION "\"hidden_buckets\": 29")
  add_test(NAME cli.profile.holdout_table COMMAND $<TARGET_FILE:llmemu_cli> profile holdout --pack ${_pack})
  set_tests_properties(cli.profile.holdout_table PROPERTIES PASS_REGULAR_EXPRESSION "step_cycle +1881 +376")
  add_test(NAME cli.profile.holdout_bad_fraction COMMAND $<TARGET_FILE:llmemu_cli> profile holdout --pack ${_pack} --fraction 1.5)
  set_tests_properties(cli.profile.holdout_bad_fraction PROPERTIES WILL_FAIL TRUE)
  add_test(NAME cli.profile.holdout_bad_power COMMAND $<TARGET_FILE:llmemu_cli> profile holdout --pack ${_pack} --power -1)
  set_tests_properties(cli.profile.holdout_bad_power PROPERTIES WILL_FAIL TRUE)

  add_test(NAME cli.profile.build COMMAND $<TARGET_FILE:llmemu_cli> profile build ${_dir}/steps.jsonl -o ${_dir}/built.json --warmup-steps 1)
  set_tests_properties(cli.profile.build PROPERTIES PASS_REGULAR_EXPRESSION "used 2 .*1 outside profiling markers, 1 warm-up")
  add_test(NAME cli.profile.build_bad_trace COMMAND $<TARGET_FILE:llmemu_cli> profile build ${_dir}/bad_steps.jsonl -o ${_dir}/never.json)
  set_tests_properties(cli.profile.build_bad_trace PROPERTIES PASS_REGULAR_EXPRESSION "bad_steps.jsonl' line 1: missing \"num_new_reqs\"")
  add_test(NAME cli.profile.build_bad_trace_exit COMMAND $<TARGET_FILE:llmemu_cli> profile build ${_dir}/bad_steps.jsonl -o ${_dir}/never.json)
  set_tests_properties(cli.profile.build_bad_trace_exit PROPERTIES WILL_FAIL TRUE)
  add_test(NAME cli.profile.build_zero_width COMMAND $<TARGET_FILE:llmemu_cli> profile build ${_dir}/steps.jsonl -o ${_dir}/never.json --conc-bucket-width 0)
  set_tests_properties(cli.profile.build_zero_width PROPERTIES WILL_FAIL TRUE)

  add_test(NAME cli.profile.convert_to_csv COMMAND $<TARGET_FILE:llmemu_cli> profile convert ${_pack} -o ${_dir}/samples.csv)
  set_tests_properties(cli.profile.convert_to_csv PROPERTIES PASS_REGULAR_EXPRESSION "3 table\\(s\\), 39657 samples")
  add_test(NAME cli.profile.convert_from_csv COMMAND $<TARGET_FILE:llmemu_cli> profile convert ${_dir}/samples.csv -o ${_dir}/from_csv.json)
  set_tests_properties(cli.profile.convert_from_csv PROPERTIES PASS_REGULAR_EXPRESSION "39657 samples" DEPENDS cli.profile.convert_to_csv)
  add_test(NAME cli.profile.convert_decode_only COMMAND $<TARGET_FILE:llmemu_cli> profile convert ${_pack} -o ${_dir}/decode_only.json --tables decode)
  set_tests_properties(cli.profile.convert_decode_only PROPERTIES PASS_REGULAR_EXPRESSION "1 table\\(s\\), 16760 samples")
  add_test(NAME cli.profile.convert_bad_table COMMAND $<TARGET_FILE:llmemu_cli> profile convert ${_pack} -o ${_dir}/x.json --tables nope)
  set_tests_properties(cli.profile.convert_bad_table PROPERTIES WILL_FAIL TRUE)

  add_test(NAME cli.profile.bench COMMAND $<TARGET_FILE:llmemu_cli> profile bench --pack ${_pack} --min-time 0.01
    --trace ${PROJECT_SOURCE_DIR}/data/splitwise_code.csv)
  set_tests_properties(cli.profile.bench PROPERTIES PASS_REGULAR_EXPRESSION "oracle/exact_hit.*trace/splitwise_code.csv")
  add_test(NAME cli.profile.bench_bad_min_time COMMAND $<TARGET_FILE:llmemu_cli> profile bench --pack ${_pack} --min-time 0)
  set_tests_properties(cli.profile.bench_bad_min_time PROPERTIES WILL_FAIL TRUE)
  # profile fit / drift / holdout --learned: the learned model and the staleness check.
  set(_drift_head "{\"version\": \"2.0\", \"profile_type\": \"serving_step_cycle_2d\", \"bucketing\": {\"tt_bucket_width\": 1, \"conc_bucket_width\": 5}, \"decode_2d_distribution\": [{\"tt\": 1, \"conc\": 2, \"num_samples\": 24, \"samples\": [")
  file(WRITE ${_dir}/drift_old.json "${_drift_head}1000,1001,1002,1003,1004,1005,1006,1007,1008,1009,1010,1011,1012,1013,1014,1015,1016,1017,1018,1019,1020,1021,1022,1023]}]}\n")
  file(WRITE ${_dir}/drift_new.json "${_drift_head}1100,1101,1102,1103,1104,1105,1106,1107,1108,1109,1110,1111,1112,1113,1114,1115,1116,1117,1118,1119,1120,1121,1122,1123]}]}\n")
  file(WRITE ${_dir}/bad_model.json "{\"llmemu_latency_model\": 1, \"tables\": []}\n")
  add_test(NAME cli.profile.fit COMMAND $<TARGET_FILE:llmemu_cli> profile fit ${_dir}/decode_only.json -o ${_dir}/model.json)
  set_tests_properties(cli.profile.fit PROPERTIES PASS_REGULAR_EXPRESSION "wrote .*model.json: learned latency model.*decode +145"
    DEPENDS cli.profile.convert_decode_only)
  add_test(NAME cli.profile.fit_simulate COMMAND $<TARGET_FILE:llmemu_cli> simulate --profile ${_dir}/model.json
    --dataset random --num-prompts 40 --input-len 64 --output-len 16 --num-gpu-blocks 2000 -q)
  set_tests_properties(cli.profile.fit_simulate PROPERTIES PASS_REGULAR_EXPRESSION "Answered by the learned model \\(%\\): +100.0"
    DEPENDS cli.profile.fit)
  add_test(NAME cli.profile.fit_fallback COMMAND $<TARGET_FILE:llmemu_cli> simulate --fallback-model ${_dir}/model.json
    --fallback-scope out_of_range --dataset random --num-prompts 40 --input-len 64 --output-len 16 -q)
  set_tests_properties(cli.profile.fit_fallback PROPERTIES PASS_REGULAR_EXPRESSION "learned fallback for out-of-range steps"
    DEPENDS cli.profile.fit)
  add_test(NAME cli.profile.fit_bad_model COMMAND $<TARGET_FILE:llmemu_cli> simulate --profile ${_dir}/bad_model.json --num-prompts 1)
  set_tests_properties(cli.profile.fit_bad_model PROPERTIES PASS_REGULAR_EXPRESSION "bad_model.json': the file has no \"roofline\".*llmemu profile fit")
  add_test(NAME cli.profile.fallback_needs_pack COMMAND $<TARGET_FILE:llmemu_cli> simulate --profile const:5
    --fallback-model ${_dir}/drift_old.json --num-prompts 1)
  set_tests_properties(cli.profile.fallback_needs_pack PROPERTIES PASS_REGULAR_EXPRESSION "needs a profile pack to fall back from")
  add_test(NAME cli.profile.holdout_learned COMMAND $<TARGET_FILE:llmemu_cli> profile holdout --pack ${_dir}/decode_only.json --learned --seeds 2)
  set_tests_properties(cli.profile.holdout_learned PROPERTIES PASS_REGULAR_EXPRESSION "decode +1 +29 .*fallback: the oracle"
    DEPENDS cli.profile.convert_decode_only)
  add_test(NAME cli.profile.holdout_leave_one_out COMMAND $<TARGET_FILE:llmemu_cli> profile holdout --pack ${_dir}/decode_only.json --leave-one-out)
  set_tests_properties(cli.profile.holdout_leave_one_out PROPERTIES PASS_REGULAR_EXPRESSION "noise floor .*\ndecode +0 +0\\.36 "
    DEPENDS cli.profile.convert_decode_only)
  add_test(NAME cli.profile.holdout_extrapolate COMMAND $<TARGET_FILE:llmemu_cli> profile holdout --pack ${_dir}/decode_only.json --extrapolate --json)
  set_tests_properties(cli.profile.holdout_extrapolate PROPERTIES PASS_REGULAR_EXPRESSION "\"mode\": \"extrapolate\".*\"learned\""
    DEPENDS cli.profile.convert_decode_only)
  # simulate --replicates (kept with the other uncertainty tests).
  add_test(NAME cli.simulate.replicates COMMAND $<TARGET_FILE:llmemu_cli> simulate --profile const:20 --dataset random
    --num-gpu-blocks 1000 --num-prompts 30 --request-rate 5 --seed 5 --replicates 3 -q)
  set_tests_properties(cli.simulate.replicates PROPERTIES PASS_REGULAR_EXPRESSION
    "Replicates: 3 runs, seeds 5..7.*Mean TPOT \\(ms\\): +20.00 \\+- 0.00")
  add_test(NAME cli.simulate.replicates_realtime COMMAND $<TARGET_FILE:llmemu_cli> simulate --profile const:1 --dataset random
    --num-gpu-blocks 1000 --num-prompts 2 --mode realtime --replicates 2 -q)
  set_tests_properties(cli.simulate.replicates_realtime PROPERTIES PASS_REGULAR_EXPRESSION "--replicates runs in virtual time")
  add_test(NAME cli.simulate.bootstrap_profile COMMAND $<TARGET_FILE:llmemu_cli> simulate --profile ${_pack} --dataset random
    --num-prompts 20 --request-rate 4 --seed 5 --replicates 3 --bootstrap-profile -q)
  set_tests_properties(cli.simulate.bootstrap_profile PROPERTIES PASS_REGULAR_EXPRESSION
    "Replicates: 3 runs, seeds 5..7, each on a bootstrap resample of the pack.*Mean TPOT \\(ms\\): +[0-9.]+ \\+- [0-9.]+")
  add_test(NAME cli.simulate.bootstrap_needs_replicates COMMAND $<TARGET_FILE:llmemu_cli> simulate --profile ${_pack}
    --dataset random --num-prompts 2 --bootstrap-profile -q)
  set_tests_properties(cli.simulate.bootstrap_needs_replicates PROPERTIES PASS_REGULAR_EXPRESSION "add --replicates K")
  add_test(NAME cli.simulate.bootstrap_needs_pack COMMAND $<TARGET_FILE:llmemu_cli> simulate --profile const:20
    --dataset random --num-prompts 2 --replicates 2 --bootstrap-profile -q)
  set_tests_properties(cli.simulate.bootstrap_needs_pack PROPERTIES PASS_REGULAR_EXPRESSION
    "--profile 'const:20' is const:20ms.*give a pack JSON or drop --bootstrap-profile")
  add_test(NAME cli.profile.drift_same COMMAND $<TARGET_FILE:llmemu_cli> profile drift ${_pack} ${_pack})
  set_tests_properties(cli.profile.drift_same PROPERTIES PASS_REGULAR_EXPRESSION "moved 0;.*the pack still matches")
  add_test(NAME cli.profile.drift_stale COMMAND $<TARGET_FILE:llmemu_cli> profile drift ${_dir}/drift_old.json ${_dir}/drift_new.json)
  set_tests_properties(cli.profile.drift_stale PROPERTIES PASS_REGULAR_EXPRESSION "decode +1-1 +2-2 +1 +24 +24 +\\+9.89.*STALE")
  add_test(NAME cli.profile.drift_stale_exit COMMAND $<TARGET_FILE:llmemu_cli> profile drift ${_dir}/drift_old.json ${_dir}/drift_new.json)
  set_tests_properties(cli.profile.drift_stale_exit PROPERTIES WILL_FAIL TRUE)
  add_test(NAME cli.profile.drift_bad_fdr COMMAND $<TARGET_FILE:llmemu_cli> profile drift ${_pack} ${_pack} --fdr 2)
  set_tests_properties(cli.profile.drift_bad_fdr PROPERTIES PASS_REGULAR_EXPRESSION "--fdr must be in \\(0, 1\\)")
endif()
