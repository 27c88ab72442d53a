# intracker — PGXS build.  The control file's default_version is the one
# version source: it names the install script and is passed to C as EXTVERSION.
EXTENSION    = intracker
PG_CONFIG   ?= pg_config
EXTVERSION   = $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big   = intracker
OBJS         = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script of the current version is built from the current
# definitions, one file per concern (src/sql/, concatenated in name order).
# src/upgrade/ keeps 0.1's install script and every upgrade script, the chain
# that existing installations (and the upgrade test) walk.
SQL_SOURCES  = $(sort $(wildcard src/sql/*.sql))
DATA_built   = src/$(EXTENSION)--$(EXTVERSION).sql
DATA         = $(sort $(wildcard src/upgrade/$(EXTENSION)--*.sql)) \
               src/monitoring/intracker-exporter-queries.yml src/monitoring/intracker-alerts.yml

# PostgreSQL's headers as system headers: -Wextra (CI) then judges our code only.
PG_CPPFLAGS  = -DEXTVERSION=\"$(EXTVERSION)\" -isystem $(shell $(PG_CONFIG) --includedir-server) \
               $(shell pkg-config --cflags jansson libcurl)
SHLIB_LINK   = $(shell pkg-config --libs jansson libcurl)

# pg_regress runs against its own throwaway server with the library preloaded,
# so `make installcheck` needs no running server and no edited postgresql.conf.
# Every sql/*.sql is a test that begins with the shared setup,
# sql/fixture/setup.sql (a subdirectory: not a test), so any one runs alone:
# make installcheck REGRESS=03_todos
REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=$(CURDIR)/tmp_check_regress

EXTRA_CLEAN  = tmp_check_regress results regression.diffs regression.out

PGXS        := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(DATA_built): $(SQL_SOURCES)
	cat $^ > $@

# intracker-mcp (src/mcp/): the MCP server, a libpq client program, built
# with the extension and installed beside psql.  Its objects see libpq's
# headers, not the server's.
MCP_PROGRAM  = src/mcp/intracker-mcp
MCP_OBJS     = $(patsubst %.c,%.o,$(sort $(wildcard src/mcp/*.c)))
EXTRA_CLEAN += $(MCP_PROGRAM) $(MCP_OBJS)

all: $(MCP_PROGRAM)

$(MCP_OBJS): CPPFLAGS = -I$(shell $(PG_CONFIG) --includedir) $(shell pkg-config --cflags jansson) \
                        -DEXTVERSION=\"$(EXTVERSION)\"
$(MCP_OBJS): src/mcp/mcp.h

$(MCP_PROGRAM): $(MCP_OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -L$(shell $(PG_CONFIG) --libdir) -lpq $(shell pkg-config --libs jansson)

install: install-mcp
install-mcp: $(MCP_PROGRAM)
	$(INSTALL_PROGRAM) $(MCP_PROGRAM) '$(DESTDIR)$(bindir)/intracker-mcp'
.PHONY: install-mcp
