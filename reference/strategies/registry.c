/* reference/strategies/registry.c — the one table of redirection designs.
 *
 * A design is a tk_strategy_ops in a file of this directory; listing it
 * here makes it a value of the Strategy key (tk_config_set), a name in
 * tk_strategy_names (so tk-bench, tk-conform's --config Strategy=...,
 * harness/reproduce.py and the golden test find it through the driver),
 * and nothing else in the runtime changes (README.md "Adding a strategy").
 * The order is the Strategy index: the five published designs first, in
 * tk_strategy enum order; designs added later go at the end. */
#include "../strategy.h"

#define TKR_STRATEGIES(X)                                   \
    X("forwarder",     tkr_strategy_forwarder)              \
    X("precode-reuse", tkr_strategy_precode_reuse)          \
    X("lazy",          tkr_strategy_lazy)                   \
    X("entry-cell",    tkr_strategy_entry_cell)             \
    X("notier",        tkr_strategy_notier)                 \
    X("eager-final",   tkr_strategy_eager_final)

#define TKR_DECLARE(name, ops) extern const tk_strategy_ops ops;
TKR_STRATEGIES(TKR_DECLARE)

#define TKR_OPS(name, ops) &ops,
const tk_strategy_ops *const tkr_strategy_table[] = { TKR_STRATEGIES(TKR_OPS) NULL };
const size_t tkr_strategy_table_len = sizeof tkr_strategy_table / sizeof tkr_strategy_table[0] - 1;

/* Public (tierkit.h): the Strategy key's values, same order, NULL-terminated. */
#define TKR_NAME(name, ops) name,
const char *const tk_strategy_names[] = { TKR_STRATEGIES(TKR_NAME) NULL };
