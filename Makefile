# tokenlab — see README.md. Every target works on a fresh Debian 12 with Go.
GO        ?= go
BIN       := bin/tokenlab
PKGS      := ./...
FUZZTIME  ?= 10s
STATICCHECK_VERSION := v0.8.2
# gcc and libc6-dev for cgo: USB HID and the SQLite store's fsync thread
# (without them Go builds with cgo off and their tests do not run).
DEBIAN_TOOLS := oathtool pskctool python3-pskc python3-fido2 python3-cryptography \
                zbar-tools awscli chromium postgresql gcc libc6-dev

.PHONY: build run test bench fuzz lint deps clean

build:
	$(GO) build -o $(BIN) ./cmd/tokenlab

# The main job: the verifier on the embedded SQLite default (see README).
run: build
	./scripts/run-main $(BIN)

test: deps
	./scripts/test

bench: build
	./scripts/bench

fuzz:
	./scripts/fuzz-all $(FUZZTIME)

lint:
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

# Debian tools the tests cross-check against. Installs only what is missing.
deps:
	@missing=""; for p in $(DEBIAN_TOOLS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all Debian tools present"; fi
	$(GO) mod download

clean:
	rm -rf bin
