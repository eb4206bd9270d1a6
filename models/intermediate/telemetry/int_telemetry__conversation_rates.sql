{#-
    What a conversation pays per unit of each token type: one row per UTC day × usage group ×
    the team, cost centre, allocation rule and attribution method its cost goes to, with the
    nano-units of billing currency per token (request for web search) of each type — the
    bill line's rate × the usage row's weight per token (int_telemetry__usage_matched). Only
    tagged usage (`telemetry`, `team_conflict`). `day_fingerprint` changes whenever any rate
    of the day does (a restated bill, a changed rule or price weight): fct_conversation_costs
    rebuilds those days.
-#}

{%- set token_types = ['input', 'cached_input', 'cache_write', 'cache_write_5m',
                       'cache_write_1h', 'output', 'web_search'] %}

with

matched as (

    select * from {{ ref('int_telemetry__usage_matched') }}
    where attribution_method is not null

),

rates as (

    select
        event_date,
        usage_group_key,
        team,
        cost_centre,
        allocation_rule_id,
        allocation_method,
        attribution_method,
        billing_currency,
        {%- for token_type in token_types %}
        sum(
            case
                when token_type = '{{ token_type }}'
                    then split_weight / token_quantity * nanos_per_weight
                else 0
            end
        ) as {{ token_type }}_nanos_per_unit{{ ',' if not loop.last }}
        {%- endfor %}
    from matched
    group by
        event_date,
        usage_group_key,
        team,
        cost_centre,
        allocation_rule_id,
        allocation_method,
        attribution_method,
        billing_currency

),

fingerprints as (

    select
        event_date,
        {{ hash_text(
            "string_agg(" ~ telemetry_rate_text('rates', token_types) ~ ", ',' order by "
            ~ telemetry_rate_text('rates', token_types) ~ ")"
        ) }} as day_fingerprint
    from rates
    group by event_date

),

final as (

    select
        rates.*,
        fingerprints.day_fingerprint
    from rates
    inner join fingerprints
        on rates.event_date = fingerprints.event_date

)

select * from final
