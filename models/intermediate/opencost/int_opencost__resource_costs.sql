{#-
    OpenCost allocations unpivoted to one row per allocation × cost component (GPU, CPU, RAM,
    storage, network, load balancer), cost = the component plus its adjustment. GPU, CPU and
    RAM rows are always emitted when unpriced (null/unparseable amount → quarantined
    downstream); a zero component with zero quantity is not a row. When every amount of an
    allocation parses, a `totalCost` row carries whatever totalCost holds beyond the
    components (shared/external cost, rounding), mapped to token type `unknown`: the rows
    of an allocation always sum to its totalCost, never a cent lost.
-#}
{%- set components = opencost_cost_components() -%}

with

allocations as (

    select * from {{ ref('stg_opencost__allocations') }}

),

token_type_map as (

    select * from {{ ref('token_type_map') }}
    where provider = 'opencost'

),

checked as (

    select
        allocations.*,
        -- every served amount parses and the core ones are present
        {{ opencost_is_complete() }} as is_complete
    from allocations

),

components as (

    {%- for label, cost, adjustment, quantity, is_core in components %}
    select
        allocation_row_key,
        '{{ label }}' as source_token_type,
        {{ quantity if quantity else 'cast(null as ' ~ money_type() ~ ')' }} as consumed_quantity,
        {{ cost }}_text as amount_text,
        -- an adjustment that does not parse makes the component unpriced, never 0
        case
            when {{ adjustment }}_text is null or {{ adjustment }} is not null
                then {{ cost }} + coalesce({{ adjustment }}, 0)
        end as billed_cost
    from checked
    where
        {%- if is_core %}
        {{ cost }} is null
        {%- else %}
        ({{ cost }}_text is not null and {{ cost }} is null)
        {%- endif %}
        or ({{ adjustment }}_text is not null and {{ adjustment }} is null)
        or {{ cost }} + coalesce({{ adjustment }}, 0) <> 0
        {%- if quantity %}
        or {{ quantity }} <> 0
        {%- endif %}

    union all
    {% endfor %}
    select
        allocation_row_key,
        'totalCost' as source_token_type,
        cast(null as {{ money_type() }}) as consumed_quantity,
        total_cost_text as amount_text,
        total_cost
        {%- for _, cost, adjustment, _, _ in components %}
        - coalesce({{ cost }}, 0) - coalesce({{ adjustment }}, 0)
        {%- endfor %} as billed_cost
    from checked
    where is_complete
        and total_cost
        {%- for _, cost, adjustment, _, _ in components %}
        - coalesce({{ cost }}, 0) - coalesce({{ adjustment }}, 0)
        {%- endfor %} <> 0

),

final as (

    select
        {{ surrogate_key(['checked.allocation_row_key', 'components.source_token_type']) }}
            as cost_row_key,
        checked.allocation_row_key,
        checked.billing_account_id,
        checked.cluster_id,
        checked.allocation_name,
        checked.node_name,
        checked.kubernetes_namespace,
        checked.pod_name,
        checked.controller_name,
        checked.controller_kind,
        checked.provider_resource_id,
        checked.labels,
        components.source_token_type,
        coalesce(token_type_map.token_type, 'unknown') as token_type,
        token_type_map.consumed_unit,
        cast(components.consumed_quantity as {{ money_type() }}) as consumed_quantity,
        components.amount_text,
        cast(components.billed_cost as {{ money_type() }}) as billed_cost,
        checked.is_idle,
        checked.window_start_text,
        checked.window_start_at,
        checked.bucket_date
    from components
    inner join checked
        on components.allocation_row_key = checked.allocation_row_key
    left join token_type_map
        on components.source_token_type = token_type_map.source_token_type

)

select * from final
