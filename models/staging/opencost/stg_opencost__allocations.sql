{#- OpenCost allocations, one row per raw row; numbers arrive as text (floats as served). -#}
{%- set raw = ('raw_opencost', 'allocations') -%}
{%- set amounts = [
    'cpu_cost', 'cpu_cost_adjustment', 'gpu_cost', 'gpu_cost_adjustment',
    'ram_cost', 'ram_cost_adjustment', 'pv_cost', 'pv_cost_adjustment',
    'network_cost', 'network_cost_adjustment', 'load_balancer_cost',
    'load_balancer_cost_adjustment', 'shared_cost', 'external_cost', 'total_cost',
] -%}

with

source as (

    {{ select_from_source(source('raw_opencost', 'allocations')) }}

),

renamed as (

    select
        -- ids
        _row_key as allocation_row_key,
        _billing_account_id as billing_account_id,
        {{ source_column(raw, 'name', 'varchar') }} as allocation_name,
        {{ source_column(raw, 'properties__cluster', 'varchar') }} as cluster_id,
        {{ source_column(raw, 'properties__node', 'varchar') }} as node_name,
        {{ source_column(raw, 'properties__namespace', 'varchar') }} as kubernetes_namespace,
        {{ source_column(raw, 'properties__pod', 'varchar') }} as pod_name,
        {{ source_column(raw, 'properties__controller', 'varchar') }} as controller_name,
        {{ source_column(raw, 'properties__controller_kind', 'varchar') }} as controller_kind,
        {{ source_column(raw, 'properties__container', 'varchar') }} as container_name,
        {{ source_column(raw, 'properties__provider_id', 'varchar') }} as provider_resource_id,

        -- dimensions
        {{ source_column(raw, 'properties__labels', 'varchar') }} as labels,
        {{ source_column(raw, 'properties__namespace_labels', 'varchar') }} as namespace_labels,

        -- quantities (GiB = 2^30 bytes)
        {{ safe_cast_decimal(source_column(raw, 'gpu_hours', 'varchar')) }} as gpu_hours,
        {{ safe_cast_decimal(source_column(raw, 'cpu_core_hours', 'varchar')) }}
            as cpu_core_hours,
        cast(
            {{ safe_cast_decimal(source_column(raw, 'ram_byte_hours', 'varchar'), 38, 3) }}
            / 1073741824 as {{ money_type() }}
        ) as ram_gib_hours,
        cast(
            {{ safe_cast_decimal(source_column(raw, 'pv_byte_hours', 'varchar'), 38, 3) }}
            / 1073741824 as {{ money_type() }}
        ) as pv_gib_hours,

        -- money, text exactly as served and exact decimals (null when unparseable)
        {%- for amount in amounts %}
        cast({{ source_column(raw, amount, 'varchar') }} as varchar) as {{ amount }}_text,
        {{ safe_cast_decimal(source_column(raw, amount, 'varchar')) }} as {{ amount }},
        {%- endfor %}

        -- timestamps
        cast(window_start as varchar) as window_start_text,
        {{ rfc3339_to_timestamp('window_start') }} as window_start_at,
        {{ rfc3339_to_timestamp('window_end') }} as window_end_at,
        cast(_bucket_date as date) as bucket_date

    from source

),

final as (

    select
        *,
        -- the API's name of unallocated capacity: `__idle__` (`<cluster>/__idle__`, …)
        coalesce(
            {{ split_on_last('allocation_name', '/', 'after') }} = '__idle__', false
        ) as is_idle
    from renamed

)

select * from final
