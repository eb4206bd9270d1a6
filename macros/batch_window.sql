{#-
    The batch a build checks: the UTC days [TOKENLEDGER_BATCH_START, TOKENLEDGER_BATCH_END] and
    the providers TOKENLEDGER_BATCH_PROVIDERS, which `tokenledger run` and the Dagster
    partition set (tokenledger.quality.batch_environment). Read when the build runs, never
    while dbt parses: dbt re-parses every file that read an env var at parse time whenever
    its value changes, and the batch changes with every run (over a year of telemetry that
    re-parse was 4 s of a 30 s daily run; in the tests, every build paid it).
-#}
{% macro batch_env(name) -%}
    {{ return(env_var(name, '') if execute else '') }}
{%- endmacro %}

{#- `between <first day> and <last day>` of the batch (every day when there is no batch) -#}
{% macro batch_days_between() -%}
    between cast('{{ batch_env('TOKENLEDGER_BATCH_START') or '1900-01-01' }}' as date)
    and cast('{{ batch_env('TOKENLEDGER_BATCH_END') or '2999-12-31' }}' as date)
{%- endmacro %}

{#-
    A data test's `where: "<date column> {batch_days}"` reads the batch's days only: dbt's
    get_where_subquery, with `{batch_days}` replaced when the test is compiled (a `where`
    written in YAML is rendered at parse time, so it cannot read the batch itself).
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- set where = where | replace('{batch_days}', batch_days_between()) -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
