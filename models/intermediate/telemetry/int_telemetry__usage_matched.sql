{#-
    Each telemetry usage row (int_telemetry__usage_daily: a usage group × token type) joined to
    the bill line it explains, with the team its cost goes to and the line's rate per unit of
    split weight. The one place that decides how telemetry explains a bill line; read by
    int_cost__attributed (per feature) and fct_conversation_costs (per conversation).

    A bill line (cost row of int_cost__unioned: provider, day, project/workspace, API key when
    the bill knows it, model, token type, service tier when the bill knows it) is explained by
    the usage reported at its grain, up to `explained_share` = min(1, reported tokens / billed
    tokens); that part is split by split weight (tokens × tier × context weights), so
    `nanos_per_weight` = billed nano-dollars × explained share / Σ split weight of the line.
    Team: a tagged team among the line's allocation-rule targets is charged (`telemetry`); on a
    line no rule places, a tagged team of seeds/teams is taken (`telemetry`); any other tagged
    team goes to `unallocated` (`team_conflict`: nobody is charged for another team's calls).
    Untagged usage (no team) explains its share too but is attributed to nobody here
    (`attribution_method` null): int_cost__attributed places it by the allocation rule.
-#}

with

costs as (

    select * from {{ ref('int_cost__unioned') }}

),

allocated as (

    select * from {{ ref('int_cost__allocated') }}

),

usage as (

    select * from {{ ref('int_telemetry__usage_daily') }}

),

teams as (

    select * from {{ ref('teams') }}

),

matched as (

    select
        costs.cost_row_key,
        {{ money_to_nanos('costs.billed_cost') }} as billed_nanos,
        costs.billing_currency,
        costs.consumed_quantity,
        usage.usage_group_key,
        usage.event_date,
        usage.token_type,
        usage.model,
        usage.team,
        usage.application,
        usage.feature,
        usage.prompt_template_id,
        usage.prompt_template_version,
        usage.token_quantity,
        usage.split_weight
    from costs
    inner join usage
        on costs.provider = usage.provider
        and costs.charge_date = usage.event_date
        and costs.token_type = usage.token_type
        and (
            costs.sub_account_id = usage.sub_account_id
            or (costs.sub_account_id is null and usage.sub_account_id is null)
        )
        and (costs.api_key_id is null or costs.api_key_id = usage.api_key_id)
        and (costs.model is null or costs.model = usage.model)
        and (costs.service_tier is null or costs.service_tier = usage.service_tier)

),

line_totals as (

    select
        cost_row_key,
        sum(token_quantity) as telemetry_quantity,
        sum(split_weight) as total_weight
    from matched
    group by cost_row_key

),

line_rule as (

    select
        cost_row_key,
        max(case when allocation_method = 'unallocated' then 1 else 0 end) as is_unallocated
    from allocated
    group by cost_row_key

),

rule_teams as (

    select
        cost_row_key,
        team,
        min(cost_centre) as cost_centre,
        min(allocation_rule_id) as allocation_rule_id,
        min(allocation_method) as allocation_method
    from allocated
    where allocation_method <> 'unallocated'
    group by cost_row_key, team

),

final as (

    select
        -- ids
        matched.cost_row_key,
        matched.usage_group_key,

        -- dimensions
        matched.event_date,
        matched.token_type,
        matched.model as call_model,
        matched.team as reported_team,
        case
            when matched.team is null then null
            when rule_teams.team is not null then matched.team
            when line_rule.is_unallocated = 1 and teams.team is not null then matched.team
            else 'unallocated'
        end as team,
        case
            when matched.team is null then null
            when rule_teams.team is not null then rule_teams.cost_centre
            when line_rule.is_unallocated = 1 then teams.cost_centre
        end as cost_centre,
        matched.application,
        coalesce(matched.feature, 'unattributed') as feature,
        coalesce(matched.prompt_template_id, 'unattributed') as prompt_template_id,
        matched.prompt_template_version,
        rule_teams.allocation_rule_id,
        rule_teams.allocation_method,
        case
            when matched.team is null then null
            when rule_teams.team is not null then 'telemetry'
            when line_rule.is_unallocated = 1 and teams.team is not null then 'telemetry'
            else 'team_conflict'
        end as attribution_method,

        -- quantities
        matched.token_quantity,
        matched.split_weight,
        line_totals.telemetry_quantity as line_telemetry_quantity,
        line_totals.total_weight as line_split_weight,

        -- money (nano-units of the billing currency)
        matched.billed_nanos as line_billed_nanos,
        matched.billing_currency,
        case
            when coalesce(matched.consumed_quantity, 0) <= 0 then 1.0
            when line_totals.telemetry_quantity >= matched.consumed_quantity then 1.0
            else cast(line_totals.telemetry_quantity as double precision)
                / cast(matched.consumed_quantity as double precision)
        end as explained_share

    from matched
    inner join line_totals
        on matched.cost_row_key = line_totals.cost_row_key
    inner join line_rule
        on matched.cost_row_key = line_rule.cost_row_key
    left join rule_teams
        on matched.cost_row_key = rule_teams.cost_row_key
        and matched.team = rule_teams.team
    left join teams
        on matched.team = teams.team

)

select
    *,
    cast(line_billed_nanos as double precision) * explained_share
    / nullif(line_split_weight, 0) as nanos_per_weight
from final
