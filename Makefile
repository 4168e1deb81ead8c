# Build for the educational autodiff / VAE project.
#
#   make tutorial T=00    install what is missing, build the library and tutorial 00, run it
#   make tutorials        install what is missing, build, run every tutorial (out/)
#   make tutorials QUICK=1  the same with --quick (small sizes)
#   make test             install what is missing, build, run the doctest suite
#   make test SANITIZE=1  the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   make bench            gemm against OpenBLAS, the VAE training step (out/bench/*.csv)
#   make bench-torch      the VAE training step, ours and PyTorch's side by side
#   make crosscheck       our VAEs' loss, gradients and training against PyTorch's
#   make student DIR=path write the exercise track's student copy (docs/exercises.md)
#   make grade [E=E03.2]  build the tests, grade every exercise (or one)
#   make student-check    make a student copy in a temporary folder and check its grading
#   make excerpts         rewrite the code excerpts of docs/*.md from the sources
#   make deps             only install the Debian packages (on macOS: say what to install)
#   make cross-test ARCH=aarch64   build for arm64 and run the tests under qemu
#   make clean
#
# Everything is compiled with the same flags; the AVX2 / AVX-512 kernels use
# function-level target attributes and are chosen at run time, so the binaries run on
# any x86-64 machine. For arm64 the NEON kernels are compiled instead, for any other CPU
# only the plain reference ones (autodiff/runtime/isa.h).

SHELL    := /bin/bash

# Build in parallel by default, one job per core, so a fresh `make tutorials` does not
# compile on one core. A -j on the command line (make -j1 ...) still wins, and the
# make run by a recipe ($(MAKE) ...) shares the jobs of the first.
ifeq ($(MAKELEVEL),0)
  MAKEFLAGS += -j$(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)
endif
CXX      ?= g++
OPT      ?= -O2

# ---- other systems: OpenMP, Homebrew's folders, stb from a folder of headers ----------
# On Debian all of this is empty or the default. On macOS, Homebrew's packages are found
# under `brew --prefix`, and Apple's clang needs Homebrew's libomp for OpenMP (GCC does
# not). Debian's libstb-dev ships stb compiled (-lstb); elsewhere clone stb into a folder
# named stb and pass the folder above it, e.g. make STB_INCLUDE=$HOME/include
# (nn/stb_implementation.cpp then compiles it).
OPENMP_FLAGS    := -fopenmp
OPENMP_LIBS     :=
PLATFORM_FLAGS  :=
PLATFORM_LDIRS  :=
STB_LIBS        := -lstb
ifeq ($(shell uname -s),Darwin)
  BREW_PREFIX := $(shell brew --prefix 2>/dev/null)
  ifneq ($(BREW_PREFIX),)
    PLATFORM_FLAGS += -I$(BREW_PREFIX)/include -I$(BREW_PREFIX)/opt/zlib/include \
                      -I$(BREW_PREFIX)/opt/libomp/include
    PLATFORM_LDIRS += -L$(BREW_PREFIX)/lib -L$(BREW_PREFIX)/opt/zlib/lib \
                      -L$(BREW_PREFIX)/opt/libomp/lib
  endif
  ifneq ($(findstring clang,$(shell $(CXX) --version 2>/dev/null)),)
    OPENMP_FLAGS := -Xpreprocessor -fopenmp
    OPENMP_LIBS  := -lomp
  endif
endif
ifneq ($(STB_INCLUDE),)
  PLATFORM_FLAGS += -I$(STB_INCLUDE) -DAD_COMPILE_STB
  STB_LIBS       :=
endif
# ---- end of other systems

CXXFLAGS := -std=c++20 $(OPT) -g -Wall -Wextra $(OPENMP_FLAGS) -MMD -MP -I. $(PLATFORM_FLAGS)
LDFLAGS  := $(OPENMP_FLAGS) $(PLATFORM_LDIRS)
LDLIBS   := -lfmt -lz $(STB_LIBS) -lm $(OPENMP_LIBS)

# BUILD may be set on the command line to keep a second build apart (make BUILD=build/mine).
ifeq ($(SANITIZE),1)
  BUILD    ?= build/sanitize
  CXXFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS  += -fsanitize=address,undefined
else
  BUILD    ?= build/release
endif

# Debian packages the project needs (see README.md).
DEBIAN_PACKAGES := doctest-dev libfmt-dev libstb-dev libcli11-dev zlib1g-dev \
                   gnuplot-nox graphviz dataset-fashion-mnist
BENCH_PACKAGES  := libopenblas-dev
TORCH_PACKAGES  := python3-torch

LIB_SRCS      := $(wildcard autodiff/*.cpp autodiff/runtime/*.cpp nn/*.cpp vae/*.cpp tutorials/common/*.cpp)
TEST_SRCS     := $(wildcard tests/*.cpp)
TUTORIAL_SRCS := $(sort $(wildcard tutorials/[0-9][0-9]_*.cpp))
BENCH_SRCS    := $(wildcard bench/*.cpp)

LIB_OBJS   := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
TEST_OBJS  := $(TEST_SRCS:%.cpp=$(BUILD)/%.o)
LIB        := $(BUILD)/libproject.a
TEST_BIN   := $(BUILD)/tests/run_tests
TUTORIALS  := $(TUTORIAL_SRCS:tutorials/%.cpp=$(BUILD)/tutorials/%)
BENCHES    := $(BENCH_SRCS:bench/%.cpp=$(BUILD)/bench/%)

QUICK_FLAG := $(if $(filter 1,$(QUICK)),--quick,)
# make tutorial T=08: the one tutorial whose file name starts with 08_.
ONE_TUTORIAL := $(filter $(BUILD)/tutorials/$(T)_%,$(TUTORIALS))

.PHONY: all deps deps-debian deps-homebrew bench-deps test tutorials bench clean build-tests build-tutorials \
        run-tests run-tutorials run-bench figures bench-torch crosscheck \
        run-bench-torch run-crosscheck tutorial run-tutorial excerpts
.DEFAULT_GOAL := all
# Keep the object files of tutorials and benchmarks (make would delete them as
# intermediates of a chained rule and rebuild them every time). Only these: a bare
# .SECONDARY: would make every object secondary, and a missing one (a source file added
# after the last build) would then never be compiled while the library looked newer.
.SECONDARY: $(TUTORIALS:=.o) $(BENCHES:=.o)

all: $(LIB) $(TUTORIALS) $(TEST_BIN)

# ---- set-up: install missing Debian packages (as root), else say what to run ----
define install_packages
	@missing=""; \
	for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing; } || exit 1; \
	  else \
	    echo "make: missing Debian packages:$$missing"; \
	    echo "make: install them with:  sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
endef

# apt-get where there is one (Debian, Ubuntu); Homebrew on macOS (deps-homebrew below);
# elsewhere only a list of what to install.
deps:
	@if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory deps-debian; \
	elif command -v brew >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory deps-homebrew; \
	else \
	  echo "make: no apt-get and no Homebrew here, so nothing is installed. The build needs:"; \
	  echo "  a C++20 compiler with OpenMP, fmt, doctest, CLI11, zlib, stb (make STB_INCLUDE=DIR"; \
	  echo "  unless a libstb is installed), gnuplot and graphviz (for the figures), and"; \
	  echo "  Fashion-MNIST (set FASHION_MNIST_DIR or pass --data DIR); see README.md"; \
	fi

deps-debian:
	$(call install_packages,$(DEBIAN_PACKAGES))

# ---- macOS: Homebrew has everything but stb and the data set -------------------------
HOMEBREW_PACKAGES := fmt doctest cli11 zlib libomp gnuplot graphviz
deps-homebrew:
	@status=0; missing=""; \
	for p in $(HOMEBREW_PACKAGES); do brew list --versions $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "make: missing Homebrew packages:$$missing"; \
	  echo "make: install them with:  brew install $(HOMEBREW_PACKAGES)"; status=1; \
	fi; \
	if [ ! -f "$(STB_INCLUDE)/stb/stb_image.h" ]; then \
	  echo "make: stb (not in Homebrew): git clone https://github.com/nothings/stb \$$HOME/include/stb"; \
	  echo "make: then build with:  make STB_INCLUDE=\$$HOME/include ..."; status=1; \
	fi; \
	data="$${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"; \
	if [ ! -d "$$data" ]; then \
	  echo "make: Fashion-MNIST (not in Homebrew): the four .gz files of data/fashion at"; \
	  echo "make:   https://github.com/zalandoresearch/fashion-mnist, in a folder named by"; \
	  echo "make:   export FASHION_MNIST_DIR=/that/folder   (or a tutorial's --data /that/folder)"; \
	  status=1; \
	fi; \
	exit $$status

bench-deps: deps
	$(call install_packages,$(BENCH_PACKAGES))

# The top-level targets install first, then build in a second make so that -j
# never compiles before the headers exist.
test: deps
	@$(MAKE) --no-print-directory run-tests

tutorials: deps
	@$(MAKE) --no-print-directory run-tutorials

bench: bench-deps
	@$(MAKE) --no-print-directory run-bench

# One tutorial: builds only the library and that program (make tutorial T=00 QUICK=1).
tutorial: deps
	@[ -n "$(T)" ] && [ -n "$(ONE_TUTORIAL)" ] || { \
	  echo "make: T names no tutorial; use one of: $(TUTORIALS:$(BUILD)/tutorials/%=%)" \
	    | sed 's/: /:\n  /; s/ \([0-9][0-9]_\)/\n  \1/g'; exit 2; }
	@$(MAKE) --no-print-directory run-tutorial

# The code shown on the docs pages: every <!-- excerpt: FILE#NAME --> block is rewritten
# from the region of FILE between `// excerpt: NAME` and `// end excerpt: NAME`.
excerpts:
	$(call install_packages,python3)
	/usr/bin/python3 tools/excerpts.py

# PyTorch (Debian's python3-torch, run by /usr/bin/python3) only for these two.
bench-torch: bench-deps
	$(call install_packages,$(TORCH_PACKAGES))
	@$(MAKE) --no-print-directory run-bench-torch

crosscheck: bench-deps
	$(call install_packages,$(TORCH_PACKAGES))
	@$(MAKE) --no-print-directory run-crosscheck

# Runs doctest, then repeats its count as one plain "N passed, N failed" line.
run-tests: $(TEST_BIN) $(TUTORIALS)
	@set -o pipefail; TUTORIAL_BIN_DIR=$(BUILD)/tutorials TUTORIAL_RUNNER=$(TEST_RUNNER) \
	  $(TEST_RUNNER) $(TEST_BIN) $(TEST_ARGS) | tee $(BUILD)/test.log; \
	status=$$?; \
	awk -F'|' '/test cases:/ { gsub(/[^0-9]/, "", $$2); gsub(/[^0-9]/, "", $$3); \
	  print "tests: " $$2 " passed, " $$3 " failed" }' $(BUILD)/test.log; \
	exit $$status

run-tutorials: $(TUTORIALS)
	@set -e; for t in $(TUTORIALS); do \
	  echo "==== $$t $(QUICK_FLAG)"; $$t $(QUICK_FLAG) --out out/$$(basename $$t); \
	done

run-tutorial: $(ONE_TUTORIAL)
	@echo "==== $< $(QUICK_FLAG)"; $< $(QUICK_FLAG) --out out/$(notdir $<)

# crosscheck is not a benchmark: bench/crosscheck.py runs it.
run-bench: $(BENCHES)
	@set -e; for b in $(filter-out %/crosscheck,$(BENCHES)); do echo "==== $$b"; $$b --out out/bench; done

run-bench-torch: $(BUILD)/bench/train_step
	/usr/bin/python3 bench/torch_train_step.py --ours $(BUILD)/bench/train_step --out out/bench

run-crosscheck: $(BUILD)/bench/crosscheck
	/usr/bin/python3 bench/crosscheck.py --bin $(BUILD)/bench/crosscheck

# ---- the exercise track (docs/exercises.md): tools/student.py and tools/grade.py ----
TRACK_PACKAGES := python3 git
.PHONY: student grade student-check
student:
	@[ -n "$(DIR)" ] || { echo "make: name the new folder: make student DIR=path"; exit 2; }
	$(call install_packages,$(TRACK_PACKAGES))
	@python3 tools/student.py make $(DIR)

grade: deps
	$(call install_packages,$(TRACK_PACKAGES))
	@$(MAKE) --no-print-directory $(TEST_BIN)
	@python3 tools/grade.py --bin $(TEST_BIN) $(if $(E),--only $(E))

# Builds the project a second time (the copy's test binary, three times incrementally).
student-check: deps
	$(call install_packages,$(TRACK_PACKAGES))
	@python3 tools/student_check.py --cxx "$(CXX)"

# ---- compile and link ----
$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(TEST_BIN): $(TEST_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $(TEST_OBJS) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tutorials/%: $(BUILD)/tutorials/%.o $(LIB)
	$(CXX) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CXX) $(LDFLAGS) $< $(LIB) $(LDLIBS) -lopenblas -o $@

# ---- fuzzing: make fuzz [FUZZ_SECONDS=60] ----
# libFuzzer targets (fuzz/*.cpp) for the IDX reader, the checkpoint reader and the PNG
# loader, built with Debian's clang under AddressSanitizer + UndefinedBehaviorSanitizer
# (clang is installed here, never needed by test or tutorials). Seeds are written by
# fuzz/make_seeds (built with the normal compiler); each target then runs FUZZ_SECONDS,
# keeping what it learns in build/fuzz/corpus/ and any crashing input in build/fuzz/crashes/.
# A crash, hang or sanitizer report fails the target (CI runs FUZZ_SECONDS=30).
.PHONY: fuzz run-fuzz
FUZZ_PACKAGES := clang libclang-rt-14-dev libomp-dev
FUZZ_SECONDS  ?= 60
FUZZ_BUILD    := build/fuzz
FUZZ_CXX      := $(if $(findstring ccache,$(CXX)),ccache clang++,clang++)
FUZZ_CXXFLAGS := -std=c++20 -O1 -g -fopenmp -MMD -MP -I. -fno-omit-frame-pointer -Wno-pass-failed \
                 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS  := idx_reader checkpoint_reader png_loader
FUZZ_LIB_OBJS := $(patsubst %.cpp,$(FUZZ_BUILD)/%.o,$(wildcard autodiff/*.cpp autodiff/runtime/*.cpp nn/*.cpp))
FUZZ_BINS     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)

fuzz: deps
	$(call install_packages,$(FUZZ_PACKAGES))
	@$(MAKE) --no-print-directory run-fuzz

run-fuzz: $(FUZZ_BINS) $(BUILD)/fuzz/make_seeds
	@rm -rf $(FUZZ_BUILD)/seeds && $(BUILD)/fuzz/make_seeds $(FUZZ_BUILD)/seeds
	@mkdir -p $(FUZZ_BUILD)/crashes
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; log=$(FUZZ_BUILD)/$$t.log; \
	  echo "==== fuzz $$t for $(FUZZ_SECONDS) s (log: $$log)"; \
	  if ! $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	       -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- \
	       $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/seeds/$$t > $$log 2>&1; then \
	    tail -n 40 $$log; echo "fuzz: $$t FAILED; the input is in $(FUZZ_BUILD)/crashes/"; exit 1; \
	  fi; \
	  grep -E '^Done|stat::number_of_executed_units|stat::peak_rss_mb' $$log; \
	done

$(FUZZ_BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -c $< -o $@

# stb_image copies zero bytes from a null pointer when a PNG's first IDAT chunk is empty
# (memcpy(NULL, p, 0): formally undefined, harmless; Debian's stb, not ours). That one
# check is off for stb's decoder only, so the fuzzer can look past it.
$(FUZZ_BUILD)/fuzz/stb_image_impl.o: FUZZ_CXXFLAGS += -fno-sanitize=nonnull-attribute

$(FUZZ_BUILD)/png_loader: $(FUZZ_BUILD)/fuzz/png_loader.o $(FUZZ_BUILD)/fuzz/stb_image_impl.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

$(FUZZ_BUILD)/%: $(FUZZ_BUILD)/fuzz/%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $^ $(LDLIBS) -o $@

$(BUILD)/fuzz/make_seeds: $(BUILD)/fuzz/make_seeds.o $(LIB)
	$(CXX) $(LDFLAGS) $< $(LIB) $(LDLIBS) -o $@

-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/%.d)

# Every figure the README and the docs pages show, copied from a full `make tutorials` run
# into docs/figures/ as <tutorial>-<figure>.png (tests/test_docs_links.cpp checks that each
# image a page shows is listed here).
FIGURES := \
  00_autodiff_tape/example_1_5_graph 00_autodiff_tape/two_layer_graph \
  01_autoencoder/latent_scatter 01_autoencoder/loss_curves 01_autoencoder/reconstructions \
  02_softmax_classifier/accuracy 02_softmax_classifier/loss_curves \
  02_softmax_classifier/sampled_estimate_bias \
  02_softmax_classifier/sampled_estimate_bias_times_k \
  02_softmax_classifier/sampled_estimate_minus_inf \
  03_probability_and_monte_carlo/coin_error_vs_n 03_probability_and_monte_carlo/evidence_ess \
  03_probability_and_monte_carlo/evidence_relative_error 04_kl_divergence/kl_vs_mean \
  04_kl_divergence/kl_vs_scale 05_elbo/elbo_vs_mean 05_elbo/elbo_vs_scale \
  06_reparameterization/change_of_variables 06_reparameterization/inverse_cdf \
  06_reparameterization/uniform_support 06_reparameterization/wrong_gradient \
  07_score_function_vs_reparameterization/baselines \
  07_score_function_vs_reparameterization/figure6_variance_vs_N \
  07_score_function_vs_reparameterization/gradient_descent \
  07_score_function_vs_reparameterization/kl_gradient_variance \
  07_score_function_vs_reparameterization/test_function_cos \
  07_score_function_vs_reparameterization/test_function_gauss \
  07_score_function_vs_reparameterization/test_function_shifted \
  08_vae/graph_loss_from_mu_logvar 08_vae/latent_manifold 08_vae/latent_scatter \
  08_vae/reconstructions 08_vae/samples 09_vae_objectives/alternating_vs_joint \
  09_vae_objectives/latent_both 09_vae_objectives/latent_kl_only \
  09_vae_objectives/latent_reconstruction_only 09_vae_objectives/sigma_tradeoff \
  10_iwae_and_cvae/generated_by_class 10_iwae_and_cvae/vae_iwae_vs_K \
  11_keras_conv_vae/codes_VAE 11_keras_conv_vae/codes_autoencoder \
  11_keras_conv_vae/latent_scatter 11_keras_conv_vae/manifolds_side_by_side \
  12_estimator_lab/discrete_bias_variance 12_estimator_lab/discrete_training_curves \
  12_estimator_lab/full_covariance_curves 12_estimator_lab/posterior_correlations \
  12_estimator_lab/snr_by_checkpoint 12_estimator_lab/training_curves \
  13_fisher_autoencoder/latent_means_fisher 13_fisher_autoencoder/latent_means_vae \
  13_fisher_autoencoder/reconstructions 13_fisher_autoencoder/samples
figures:
	@mkdir -p docs/figures
	@missing=0; for f in $(FIGURES); do \
	  if [ -f out/$$f.png ]; then cp out/$$f.png docs/figures/$$(echo $$f | tr / -).png; \
	  else echo "missing out/$$f.png: run its tutorial first (make tutorials)"; missing=1; fi; \
	done; [ $$missing = 0 ]
	@echo "copied $(words $(FIGURES)) figures into docs/figures/"

clean:
	rm -rf build out

# ---- other CPUs: build for arm64 with Debian's cross compiler, run under qemu ----------
#   make cross-test ARCH=aarch64   installs what is missing, builds the library, the tests
#                                  and the tutorials for arm64 in build/aarch64, and runs
#                                  the test suite under qemu-aarch64 (user-mode emulation)
# The arm64 libraries come from Debian's multiarch (dpkg --add-architecture arm64); the
# header-only packages (doctest, CLI11) and the data set are shared with the host.
ARCH ?= aarch64
CROSS_ARCHES    := aarch64
CROSS_DEB_ARCH  := $(if $(filter aarch64,$(ARCH)),arm64,)
CROSS_PACKAGES  := g++-$(ARCH)-linux-gnu qemu-user libfmt-dev:$(CROSS_DEB_ARCH) \
                   zlib1g-dev:$(CROSS_DEB_ARCH) libstb-dev:$(CROSS_DEB_ARCH) \
                   libgomp1:$(CROSS_DEB_ARCH) libstdc++6:$(CROSS_DEB_ARCH)
CROSS_BUILD     := build/$(ARCH)
CROSS_CXX       ?= $(if $(findstring ccache,$(CXX)),ccache ,)$(ARCH)-linux-gnu-g++
# Run each test binary through qemu; the tests that start a tutorial put the same prefix
# before it (TUTORIAL_RUNNER, see tests/helpers.h).
CROSS_RUNNER    := qemu-$(ARCH)
# Every arm64 library at run time, the dynamic loader included, comes from the same
# multiarch packages under / (libc6:arm64, libstdc++6:arm64, libgomp1:arm64, ...).
# Pointing qemu at the cross compiler's folder instead (QEMU_LD_PREFIX=/usr/$(ARCH)-linux-gnu,
# a common recipe) loads that folder's ld-linux-aarch64.so.1 with the multiarch
# libc.so.6, two builds of glibc that do not fit together: the first pthread_create
# then never returns, so every multi-threaded test hangs.
cross-test: export QEMU_LD_PREFIX := /
# qemu runs each floating-point operation, lane by lane, through a C function: a test
# made mostly of gemm runs a few hundred times slower than on the host. So by default the
# suite leaves out the docs/ quote checks (full-size tutorial runs) and the ConvVae
# training run (about 10 billion multiply-adds: over 5 minutes alone), and smoke-runs one
# tutorial, 08_vae --quick, instead of all of them. Everything else runs, the gemm, ops,
# gradcheck, vecmath, Adam, threading and bad-input tests included.
#   make cross-test CROSS_TEST_ARGS= CROSS_SMOKE=     runs the whole suite (far longer)
CROSS_TEST_ARGS ?= -tce="docs/*,ConvVae: a short training run*"
CROSS_SMOKE     ?= 08_vae

.PHONY: cross-deps cross-test
cross-deps: deps
	@[ -n "$(CROSS_DEB_ARCH)" ] || { echo "make: ARCH=$(ARCH) is not one of: $(CROSS_ARCHES)"; exit 2; }
	@dpkg --print-foreign-architectures | grep -qx $(CROSS_DEB_ARCH) || { \
	  [ "$$(id -u)" = 0 ] || { echo "make: run as root: dpkg --add-architecture $(CROSS_DEB_ARCH) && apt-get update"; exit 1; }; \
	  echo "make: adding the Debian architecture $(CROSS_DEB_ARCH)"; \
	  dpkg --add-architecture $(CROSS_DEB_ARCH) && apt-get update -q >/dev/null; }
	$(call install_packages,$(CROSS_PACKAGES))

cross-test: cross-deps
	@TUTORIAL_SMOKE_ONLY="$(CROSS_SMOKE)" $(MAKE) --no-print-directory run-tests \
	  CXX="$(CROSS_CXX)" BUILD=$(CROSS_BUILD) TEST_RUNNER=$(CROSS_RUNNER) \
	  TEST_ARGS='$(CROSS_TEST_ARGS)'

-include $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(TUTORIALS:=.d) $(BENCHES:=.d)

# ---- the book: docs/ as HTML in out/book/, checked in headless Chromium ----------------
#   make book         installs what is missing, builds out/book/ (open out/book/index.html
#                     in a browser; search needs it served: python3 -m http.server -d out/book)
#   make book-check   tests the book's markdown adjustments (tools/book/test_hooks.py),
#                     builds the book, serves it on 127.0.0.1 and opens every page in
#                     headless Chromium: fails on a page that does not load, an image that
#                     does not, a formula KaTeX did not typeset, a request that leaves the
#                     machine or a JavaScript error; screenshots in out/book-check/
# Everything comes from Debian: mkdocs and its material theme, pymdownx (arithmatex leaves
# the formulas to KaTeX), KaTeX itself (copied into the site: the book reads offline),
# Chromium and Selenium for the check. /usr/bin/python3 is Debian's, where they are installed.
.PHONY: book book-check book-deps book-check-deps run-book run-book-check
BOOK_PACKAGES       := mkdocs mkdocs-material python3-pymdownx python3-pygments libjs-katex
BOOK_CHECK_PACKAGES := chromium chromium-driver python3-selenium
BOOK_DIR            := out/book

book-deps:
	$(call install_packages,$(BOOK_PACKAGES))

book-check-deps: book-deps
	$(call install_packages,$(BOOK_CHECK_PACKAGES))

book: book-deps
	@$(MAKE) --no-print-directory run-book

book-check: book-check-deps
	@$(MAKE) --no-print-directory run-book
	@$(MAKE) --no-print-directory run-book-check

# Debian's Jinja2 warns about its own escape sequences on every build; that is not ours.
run-book:
	@PYTHONWARNINGS=ignore::DeprecationWarning /usr/bin/python3 -m mkdocs build \
	  --config-file mkdocs.yml --site-dir $(BOOK_DIR)
	@echo "book: $(BOOK_DIR)/index.html"

run-book-check:
	/usr/bin/python3 -m unittest discover --start-directory tools/book
	/usr/bin/python3 tools/book/check.py --site $(BOOK_DIR) --shots out/book-check
