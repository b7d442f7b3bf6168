# newsdedup: common tasks. `make run` and `make test` are the two that matter.

CARGO ?= cargo
DB ?= newsdedup.db
BIN := target/release/newsdedup
CORPUS ?= ../shared/corpus
# The soak benchmark: the daemon over SOAK_FEEDS local HTTP feeds for SOAK_SECS seconds.
SOAK_FEEDS ?= 1000
SOAK_SECS ?= 180

.PHONY: all build run test test-slow lint bench corpus clean

all: build

build:
	$(CARGO) build --release --locked

# Ingest the bundled demo feeds into ./newsdedup.db and print what happened.
run: build
	$(BIN) --db $(DB) ingest config/demo/*.xml
	@echo
	$(BIN) --db $(DB) stats

test:
	$(CARGO) test --workspace --locked

# Long-running checks kept out of `make test`.
test-slow:
	$(CARGO) test --workspace --locked -- --ignored

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Includes benches/fetch.rs: 2,000 local feeds through the release binary, then all 304.
bench: build
	NEWSDEDUP_CORPUS=$(abspath $(CORPUS)) $(CARGO) bench --workspace --locked
	scripts/bench-ingest.sh $(CORPUS)
	python3 scripts/bench-dedup.py --bin $(BIN) --corpus $(CORPUS)
	python3 scripts/bench-soak.py --bin $(BIN) --feeds $(SOAK_FEEDS) --duration $(SOAK_SECS)

# Score cleaning and dedup on the labelled dev corpus (needs python3).
corpus: build
	scripts/score-corpus.sh $(CORPUS)

clean:
	$(CARGO) clean
	rm -f $(DB) $(DB)-wal $(DB)-shm
