# Provisioned capacity tracks a target utilization, 70 % by default: headroom
# for the minutes a scale-up takes. On-demand tables have nothing to scale, so
# none of this exists for them. A Global Table's replicas follow the table's
# scaling settings (DynamoDB keeps them aligned in version 2019.11.21); its
# write capacity must be on-demand or autoscaled, which is why a provisioned
# table here is always autoscaled. For a fixed capacity, set min and max equal.

resource "aws_appautoscaling_target" "read" {
  count              = local.provisioned ? 1 : 0
  service_namespace  = "dynamodb"
  resource_id        = "table/${aws_dynamodb_table.online_store.name}"
  scalable_dimension = "dynamodb:table:ReadCapacityUnits"
  min_capacity       = var.read_min_capacity
  max_capacity       = var.read_max_capacity
}

resource "aws_appautoscaling_policy" "read" {
  count              = local.provisioned ? 1 : 0
  name               = "${var.table_name}-read-autoscaling"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.read[0].service_namespace
  resource_id        = aws_appautoscaling_target.read[0].resource_id
  scalable_dimension = aws_appautoscaling_target.read[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    predefined_metric_specification {
      predefined_metric_type = "DynamoDBReadCapacityUtilization"
    }
    target_value       = var.autoscaling_target_utilization
    scale_in_cooldown  = 60
    scale_out_cooldown = 60
  }
}

resource "aws_appautoscaling_target" "write" {
  count              = local.provisioned ? 1 : 0
  service_namespace  = "dynamodb"
  resource_id        = "table/${aws_dynamodb_table.online_store.name}"
  scalable_dimension = "dynamodb:table:WriteCapacityUnits"
  min_capacity       = var.write_min_capacity
  max_capacity       = var.write_max_capacity
}

resource "aws_appautoscaling_policy" "write" {
  count              = local.provisioned ? 1 : 0
  name               = "${var.table_name}-write-autoscaling"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.write[0].service_namespace
  resource_id        = aws_appautoscaling_target.write[0].resource_id
  scalable_dimension = aws_appautoscaling_target.write[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    predefined_metric_specification {
      predefined_metric_type = "DynamoDBWriteCapacityUtilization"
    }
    target_value       = var.autoscaling_target_utilization
    scale_in_cooldown  = 60
    scale_out_cooldown = 60
  }
}
