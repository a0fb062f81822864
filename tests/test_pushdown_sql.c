/*
** test_pushdown_sql.c -- the SQL a pushdown run sends, per dialect, checked
** for shape without a database (cs_pushdown_explain): Snowflake's COUNT_IF,
** MEDIAN and PERCENTILE_CONT, PostgreSQL's FILTER and percentile_cont,
** SQLite's ORDER BY ... LIMIT 2 OFFSET ? and centred sum of squares,
** identifiers quoted exactly as the catalog spells them, and no user value
** (sentinels, thresholds) ever in the text: they are all placeholders.
*/
#include <stdlib.h>
#include <string.h>

#include "pushdown.h"
#include "tap.h"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

int main(void)
{
    static const double sent[] = {365243};
    static const char *const tsent[] = {"XNA", "N/A'x"};
    struct cs_colmeta cm[] = {{"BRANCH", CS_TYPE_TEXT}, {"ACC_NO", CS_TYPE_INT64}, {"AMT_Z", CS_TYPE_DOUBLE},
                              {"Amt_Mixed", CS_TYPE_DOUBLE}, {"AMT_M", CS_TYPE_DOUBLE}, {"STATUS", CS_TYPE_TEXT},
                              {"DAYS_X", CS_TYPE_INT64}};
    struct cs_schema schema = {.table = "Loans_2024", .ncols = 7, .cols = cm};
    struct cs_column_policy pol[7];
    struct cs_column_info info[7];
    memset(pol, 0, sizeof(pol));
    memset(info, 0, sizeof(info));
    for (int i = 0; i < 7; i++) {
        pol[i].struct_size = sizeof(pol[i]);
        pol[i].outlier_method = cm[i].type == CS_TYPE_TEXT ? CS_OUTLIER_OFF : CS_OUTLIER_ZSCORE;
        info[i] = (struct cs_column_info){.name = cm[i].name, .type = cm[i].type, .policy = &pol[i]};
    }
    info[0].is_key = info[1].is_key = 1;
    pol[3].outlier_method = CS_OUTLIER_IQR;
    pol[4].outlier_method = CS_OUTLIER_MAD;
    pol[4].outlier_threshold = 4.25;
    pol[5].n_text_sentinels = 2, pol[5].text_sentinels = tsent, pol[5].empty_is_missing = 1;
    pol[6].n_sentinels = 1, pol[6].sentinels = sent, pol[6].allow_negative = 1;
    size_t pk[] = {0, 1};
    struct cs_pd_table t = {.schema = &schema, .infos = info, .pk = pk, .npk = 2};
    struct cs_err err = {0};
    char *sql = NULL;

    t.dialect = CS_DIALECT_SNOWFLAKE;
    ok(cs_pushdown_explain(&t, &sql, &err) == 0 && sql != NULL, "snowflake: explain works (%s)", err.msg);
    if (sql != NULL) {
        ok(strstr(sql, "COUNT_IF(") != NULL, "snowflake: conditional counts are COUNT_IF");
        ok(strstr(sql, "FILTER") == NULL, "snowflake: no FILTER clause (Snowflake has none)");
        ok(strstr(sql, "MEDIAN(") != NULL, "snowflake: the MAD column's median is MEDIAN (exact)");
        ok(strstr(sql, "MEDIAN(ABS(") != NULL, "snowflake: MAD is MEDIAN(ABS(x - ?))");
        ok(strstr(sql, "PERCENTILE_CONT(0.25) WITHIN GROUP (ORDER BY ") != NULL &&
               strstr(sql, "PERCENTILE_CONT(0.75) WITHIN GROUP (ORDER BY ") != NULL,
           "snowflake: IQR quartiles are exact PERCENTILE_CONT ... WITHIN GROUP");
        ok(strstr(sql, "STDDEV_POP(") != NULL && strstr(sql, "AVG(") != NULL, "snowflake: z-score uses AVG and STDDEV_POP");
        ok(strstr(sql, "FROM \"Loans_2024\"") != NULL, "snowflake: the table is quoted as the catalog spells it");
        ok(strstr(sql, "\"Amt_Mixed\"") != NULL && strstr(sql, " Amt_Mixed") == NULL,
           "snowflake: a mixed-case column is always quoted");
        ok(strstr(sql, "CAST('NaN' AS DOUBLE)") != NULL && strstr(sql, "CAST('inf' AS DOUBLE)") != NULL,
           "snowflake: NaN and infinity are Snowflake FLOAT literals");
        ok(strstr(sql, "XNA") == NULL && strstr(sql, "N/A") == NULL && strstr(sql, "365243") == NULL &&
               strstr(sql, "4.25") == NULL,
           "snowflake: sentinels and thresholds are bound parameters, never text");
        ok(strstr(sql, "\"STATUS\" IN (?, ?)") != NULL, "snowflake: text sentinels are placeholders");
        ok(strstr(sql, "GROUP BY \"BRANCH\", \"ACC_NO\" HAVING COUNT(*) > 1") != NULL,
           "snowflake: composite-key duplicates by GROUP BY ... HAVING");
        ok(strstr(sql, "LIMIT 10") != NULL, "snowflake: sample keys are bounded (LIMIT 10)");
        ok(count(sql, "SELECT ") >= 3, "snowflake: statistics, then counts beyond the bounds");
        free(sql);
        sql = NULL;
    }

    t.dialect = CS_DIALECT_POSTGRES;
    ok(cs_pushdown_explain(&t, &sql, &err) == 0 && sql != NULL, "postgresql: explain works");
    if (sql != NULL) {
        ok(strstr(sql, "COUNT(*) FILTER (WHERE ") != NULL && strstr(sql, "COUNT_IF") == NULL,
           "postgresql: conditional counts are COUNT(*) FILTER (WHERE ...)");
        ok(strstr(sql, "percentile_cont(0.5) WITHIN GROUP (ORDER BY ABS(") != NULL,
           "postgresql: MAD is exact: percentile_cont over |x - median|");
        ok(strstr(sql, "btrim(\"STATUS\", ?) = ''") != NULL, "postgresql: blanks by btrim with the set bound");
        ok(strstr(sql, "CAST('NaN' AS DOUBLE PRECISION)") != NULL, "postgresql: NaN literal");
        free(sql);
        sql = NULL;
    }

    t.dialect = CS_DIALECT_SQLITE;
    ok(cs_pushdown_explain(&t, &sql, &err) == 0 && sql != NULL, "sqlite: explain works");
    if (sql != NULL) {
        ok(strstr(sql, "percentile") == NULL && strstr(sql, "STDDEV") == NULL,
           "sqlite: no percentile or stddev functions (SQLite has none)");
        ok(strstr(sql, "ORDER BY v LIMIT 2 OFFSET ?") != NULL, "sqlite: quantiles by ORDER BY ... LIMIT 2 OFFSET ?");
        ok(strstr(sql, "SUM((CASE WHEN") != NULL, "sqlite: sd from the centred sum of squares (mean bound)");
        ok(strstr(sql, "typeof(\"ACC_NO\") NOT IN ('integer', 'null')") != NULL,
           "sqlite: a guard for values of the wrong storage class");
        ok(strstr(sql, "NaN") == NULL, "sqlite: no NaN test (SQLite stores NaN as NULL)");
        free(sql);
    }
    return tap_done();
}
